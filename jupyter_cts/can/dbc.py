"""DBC files: find them in opendbc's data folder, expand its generator includes, parse them ourselves.

We read the DBC *text* instead of using ``opendbc.can.dbc``: importing ``opendbc.can`` loads opendbc's
``car.capnp`` and aborts any process that already loaded cereal's ("Duplicate ID"). Importing the
top-level ``opendbc`` package (for ``DBC_PATH``) and its text-only generator scripts is harmless.

Bit numbering follows the DBC convention opendbc uses: ``start_bit`` of a little-endian (``@1``) signal
is its least significant bit; of a big-endian "Motorola" (``@0``) signal its most significant bit, with
bits counted ``byte*8 + bit`` (bit 0 = LSB of the byte) and a multi-byte value continuing into the
*next* byte's bit 7.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_cts.errors import DbcError, DbcLookupError

GENERATED_SUFFIX = "_generated"

# One (byte, shift, width, position) step of a signal: ``width`` bits taken from ``byte >> shift``
# land at bit ``position`` of the raw value. Decoding and packing both walk these steps.
Piece = tuple[int, int, int, int]


@dataclass(frozen=True)
class Signal:
    """One SG_ line. ``lsb``/``msb`` are frame bit indices of the value's least/most significant bit."""

    name: str
    start_bit: int
    size: int
    little_endian: bool
    signed: bool
    factor: float
    offset: float
    minimum: float
    maximum: float
    unit: str
    receivers: tuple[str, ...] = ()
    is_multiplexer: bool = False
    mux_value: int | None = None  # set for ``mN`` signals: decoded only when the multiplexer equals N
    comment: str | None = None
    values: dict[int, str] = field(default_factory=dict)  # VAL_ table

    @property
    def lsb(self) -> int:
        if self.little_endian:
            return self.start_bit
        return _motorola_bit(_motorola_pos(self.start_bit) + self.size - 1)

    @property
    def msb(self) -> int:
        return self.start_bit + self.size - 1 if self.little_endian else self.start_bit

    @functools.cached_property
    def pieces(self) -> tuple[Piece, ...]:
        """The bytes this signal covers, most significant part first (like opendbc's get_raw_value)."""
        steps: list[Piece] = []
        lsb, msb = self.lsb, self.msb
        i, bits = msb // 8, self.size
        while 0 <= i < 64 and bits > 0:
            lo = lsb if lsb // 8 == i else i * 8
            hi = msb if msb // 8 == i else i * 8 + 7
            width = hi - lo + 1
            steps.append((i, lo - i * 8, width, bits - width))
            bits -= width
            i = i - 1 if self.little_endian else i + 1
        return tuple(steps)

    @property
    def last_byte(self) -> int:
        """Highest byte index the signal touches: a shorter frame cannot carry it."""
        return max(p[0] for p in self.pieces) if self.pieces else 0


@dataclass(frozen=True)
class Message:
    """One BO_ block. ``address`` is the CAN id as openpilot logs it (extended flag bit removed)."""

    address: int
    name: str
    size: int
    transmitter: str
    signals: dict[str, Signal]
    is_extended: bool = False
    comment: str | None = None

    def signal(self, name: str) -> Signal:
        try:
            return self.signals[name]
        except KeyError:
            raise DbcLookupError(
                f"message {self.name} ({self.address:#x}) has no signal {name!r}"
                f"{_suggest(name, self.signals)}"
            ) from None

    @property
    def multiplexer(self) -> Signal | None:
        return next((s for s in self.signals.values() if s.is_multiplexer), None)


@dataclass(frozen=True)
class Dbc:
    """A parsed DBC: messages by address, plus where the text came from."""

    name: str
    source: str  # the file it was read from, or the generator template it was expanded from
    messages: dict[int, Message]

    @functools.cached_property
    def by_name(self) -> dict[str, Message]:
        return {m.name: m for m in self.messages.values()}

    def message(self, key: str | int) -> Message:
        """A message by name, by address (int), or by address text like ``0x241``."""
        if isinstance(key, str) and re.fullmatch(r"0[xX][0-9a-fA-F]+|\d+", key.strip()):
            key = int(key.strip(), 0)
        if isinstance(key, int):
            if key in self.messages:
                return self.messages[key]
            raise DbcLookupError(f"DBC {self.name} has no message at address {key:#x} ({key})")
        if key in self.by_name:
            return self.by_name[key]
        raise DbcLookupError(f"DBC {self.name} has no message {key!r}{_suggest(key, self.by_name)}")

    def __contains__(self, key: object) -> bool:
        return key in self.messages or key in self.by_name


def _motorola_pos(bit: int) -> int:
    """Position of a frame bit in the Motorola walk order 7..0, 15..8, ..."""
    return (bit // 8) * 8 + (7 - bit % 8)


def _motorola_bit(pos: int) -> int:
    return (pos // 8) * 8 + (7 - pos % 8)


def _suggest(name: str, choices: object) -> str:
    close = difflib.get_close_matches(name, list(choices), n=5, cutoff=0.5)  # type: ignore[call-overload]
    return f"; did you mean {', '.join(close)}?" if close else ""


# ----------------------------------------------------------------------------------------------------
# Locating DBC text


def _dbc_path() -> Path:
    import opendbc  # the top-level package only: it does not load any capnp schema

    return Path(opendbc.DBC_PATH)


_INCLUDE_RE = re.compile(r'CM_ "IMPORT (.*?)";\n')


@functools.cache
def _script_outputs(folder: str) -> dict[str, str]:
    """DBC text that opendbc's generator scripts in one folder produce ({file name: text}).

    These scripts build text only (no opendbc.car import), so running them is safe in any process.
    """
    out: dict[str, str] = {}
    for script in sorted((_dbc_path() / "generator" / folder).glob("*.py")):
        if script.name.startswith("test_") or script.name == "__init__.py":
            continue
        module = importlib.import_module(f"opendbc.dbc.generator.{folder}.{script.stem}")
        if hasattr(module, "generate"):
            out.update(module.generate())
    return out


def _read_generator_file(folder: str, filename: str) -> str:
    path = _dbc_path() / "generator" / folder / filename
    if path.is_file():
        return path.read_text(encoding="utf-8")
    scripted = _script_outputs(folder)
    if filename in scripted:
        return scripted[filename]
    raise DbcError(f"{path}: DBC include not found (neither a file nor produced by a generator script)")


def expand_includes(text: str, read: object) -> str:
    """Inline ``CM_ "IMPORT x";`` lines the way opendbc's generator does: includes first, then the rest.

    ``read(filename) -> str`` supplies an included file. Includes are not expanded recursively, like
    opendbc's generator.
    """
    parts = []
    for include in _INCLUDE_RE.findall(text):
        parts.append(read(include))  # type: ignore[operator]
    parts.append(_INCLUDE_RE.sub("", text))
    return "\n".join(parts)


@functools.cache
def _generated_index() -> dict[str, tuple[str, str]]:
    """``{name_generated: (generator folder, template file)}`` for every DBC opendbc generates."""
    index: dict[str, tuple[str, str]] = {}
    root = _dbc_path() / "generator"
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("__")):
        names = {p.name for p in folder.glob("*.dbc")}
        if any(folder.glob("*.py")):
            names |= set(_script_outputs(folder.name))
        for filename in sorted(n for n in names if not n.startswith("_")):
            index[filename.removesuffix(".dbc") + GENERATED_SUFFIX] = (folder.name, filename)
    return index


def list_dbcs() -> list[str]:
    """Every DBC name ``load_dbc`` accepts without a path: opendbc's plain and generated DBCs."""
    plain = {p.stem for p in _dbc_path().glob("*.dbc")}
    return sorted(plain | set(_generated_index()))


def load_dbc(name_or_path: str | os.PathLike[str]) -> Dbc:
    """A parsed DBC by opendbc name (``subaru_global_2017``, ``..._generated``, ``toyota_adas``) or path.

    A generated DBC may be named with or without the ``_generated`` suffix. Parsed DBCs are cached.
    """
    text = os.fspath(name_or_path)
    path = Path(text).expanduser()
    if text.endswith(".dbc") or os.sep in text or isinstance(name_or_path, os.PathLike):
        if path.is_file():
            stat = path.stat()
            return _load_file(str(path.resolve()), stat.st_mtime_ns, stat.st_size)
        if os.sep in text or isinstance(name_or_path, os.PathLike):
            raise DbcLookupError(f"DBC file {text} does not exist; pass an existing .dbc file or a DBC name")
        text = text.removesuffix(".dbc")
    return _load_named(canonical_name(text))


def canonical_name(name: str) -> str:
    """The name opendbc knows a DBC by (adds ``_generated`` when only the generated one exists)."""
    generated = _generated_index()
    if name in generated:
        return name
    if (_dbc_path() / f"{name}.dbc").is_file():
        return name
    if name + GENERATED_SUFFIX in generated:
        return name + GENERATED_SUFFIX
    raise DbcLookupError(
        f"unknown DBC {name!r}{_suggest(name, list_dbcs())} (list them with jupyter_cts.can.list_dbcs(), "
        f"or pass a path to a .dbc file)"
    )


@functools.cache
def _load_named(name: str) -> Dbc:
    generated = _generated_index()
    if name in generated:
        folder, filename = generated[name]
        template = _read_generator_file(folder, filename)
        content = expand_includes(template, lambda inc: _read_generator_file(folder, inc))
        return parse_dbc(content, name=name, source=str(_dbc_path() / "generator" / folder / filename))
    path = _dbc_path() / f"{name}.dbc"
    return parse_dbc(path.read_text(encoding="utf-8"), name=name, source=str(path))


@functools.lru_cache(maxsize=32)
def _load_file(path: str, mtime_ns: int, size: int) -> Dbc:
    """One parse per file version: the mtime and size in the cache key notice edits."""
    p = Path(path)
    try:
        content = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        content = p.read_text(encoding="latin-1")
    content = expand_includes(content, lambda inc: (p.parent / inc).read_text(encoding="utf-8"))
    return parse_dbc(content, name=p.stem, source=path)


# ----------------------------------------------------------------------------------------------------
# Parsing

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_BO_RE = re.compile(r"^BO_\s+(\d+)\s+(\w+)\s*:\s*(\d+)\s*(\w*)")
_SG_RE = re.compile(
    rf"^SG_\s+(?P<name>\w+)\s*(?P<mux>M|m\d*M?)?\s*:\s*(?P<start>\d+)\|(?P<size>\d+)@(?P<order>[01])"
    rf"(?P<sign>[+-])\s*\(\s*(?P<factor>{_NUM})\s*,\s*(?P<offset>{_NUM})\s*\)"
    rf"\s*\[\s*(?P<min>{_NUM})\s*\|\s*(?P<max>{_NUM})\s*\]\s*\"(?P<unit>[^\"]*)\"\s*(?P<rx>.*)$"
)
_VAL_RE = re.compile(r"^VAL_\s+(\d+)\s+(\w+)\s+(.*);")
_VAL_ITEM_RE = re.compile(r'(-?\d+)\s+"([^"]*)"')
_CM_SG_RE = re.compile(r'CM_\s+SG_\s+(\d+)\s+(\w+)\s+"((?:[^"\\]|\\.)*)"\s*;', re.S)
_CM_BO_RE = re.compile(r'CM_\s+BO_\s+(\d+)\s+"((?:[^"\\]|\\.)*)"\s*;', re.S)

_EXTENDED_FLAG = 0x80000000


def _address(dbc_id: int) -> tuple[int, bool]:
    """DBC ids of 29-bit frames carry bit 31; logs carry the bare 29-bit address."""
    if dbc_id & _EXTENDED_FLAG:
        return dbc_id & 0x1FFFFFFF, True
    return dbc_id, False


def parse_dbc(content: str, *, name: str = "dbc", source: str = "<text>") -> Dbc:
    """Parse DBC text (includes already expanded). Lines we do not need (BA_, BU_, ...) are skipped."""
    raw: dict[int, dict] = {}
    sigs: dict[int, dict[str, dict]] = {}
    current: int | None = None
    vals: dict[tuple[int, str], dict[int, str]] = {}
    for line_no, line in enumerate(content.splitlines(), 1):
        line = line.strip()
        if line.startswith("BO_ "):
            m = _BO_RE.match(line)
            if not m:
                raise DbcError(f"{source}:{line_no}: cannot read message line {line!r}")
            current = int(m.group(1))
            raw[current] = {"name": m.group(2), "size": int(m.group(3)), "transmitter": m.group(4)}
            sigs[current] = {}
        elif line.startswith("SG_ "):
            m = _SG_RE.match(line)
            if not m:
                raise DbcError(f"{source}:{line_no}: cannot read signal line {line!r}")
            if current is None:
                raise DbcError(f"{source}:{line_no}: signal {m.group('name')} comes before any BO_ message")
            if not 1 <= int(m.group("size")) <= 64:
                raise DbcError(
                    f"{source}:{line_no}: signal {m.group('name')} has size {m.group('size')}; 1..64 bits"
                )
            sigs[current][m.group("name")] = _signal_fields(m)
        elif line.startswith("VAL_ "):
            m = _VAL_RE.match(line)
            if m:
                table = {int(v): d for v, d in _VAL_ITEM_RE.findall(m.group(3))}
                vals[(int(m.group(1)), m.group(2))] = table
    sig_comments = {(int(a), s): c for a, s, c in _CM_SG_RE.findall(content)}
    msg_comments = {int(a): c for a, c in _CM_BO_RE.findall(content)}

    messages: dict[int, Message] = {}
    for dbc_id, info in raw.items():
        signals = {
            sname: Signal(
                **fields,
                comment=sig_comments.get((dbc_id, sname)),
                values=vals.get((dbc_id, sname), {}),
            )
            for sname, fields in sigs[dbc_id].items()
        }
        address, extended = _address(dbc_id)
        messages[address] = Message(
            address=address,
            name=info["name"],
            size=info["size"],
            transmitter=info["transmitter"],
            signals=signals,
            is_extended=extended,
            comment=msg_comments.get(dbc_id),
        )
    return Dbc(name=name, source=source, messages=messages)


def _signal_fields(m: re.Match[str]) -> dict:
    mux = m.group("mux") or ""
    digits = mux[1:].rstrip("M")
    # a bare ``m`` (seen in vw_pq) selects nothing: opendbc reads it as a plain signal, and so do we
    mux_value = int(digits) if mux.startswith("m") and digits else None
    return {
        "name": m.group("name"),
        "start_bit": int(m.group("start")),
        "size": int(m.group("size")),
        "little_endian": m.group("order") == "1",
        "signed": m.group("sign") == "-",
        "factor": float(m.group("factor")),
        "offset": float(m.group("offset")),
        "minimum": float(m.group("min")),
        "maximum": float(m.group("max")),
        "unit": m.group("unit"),
        "receivers": tuple(r for r in re.split(r"[\s,]+", m.group("rx")) if r),
        "is_multiplexer": mux == "M" or mux.endswith("M") and len(mux) > 1,
        "mux_value": mux_value,
    }
