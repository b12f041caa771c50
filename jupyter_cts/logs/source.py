"""Turn what a user points at (a file, a segment folder, a route folder, a list) into segment files.

openpilot stores a route as folders ``<dongle>|<date>--<time>--N``, one per minute, each holding an
``rlog`` (every message) and a ``qlog`` (decimated). Names are parsed here and nowhere else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from jupyter_cts.errors import InputError

Kind = Literal["rlog", "qlog", "unknown"]
PathLike = str | Path

# Inside a segment folder, best first: the rlog has every message, the qlog only a decimated copy.
LOG_NAMES = ("rlog.zst", "rlog.bz2", "rlog", "qlog.zst", "qlog.bz2", "qlog")

_SEGMENT_DIR = re.compile(r"^(?P<route>.*?)--(?P<n>\d+)$")
# Flat layout some tools download to: "<route>--N--rlog.zst" side by side in one folder.
_FLAT_FILE = re.compile(r"^(?P<route>.*?)--(?P<n>\d+)--(?P<kind>rlog|qlog)(\.zst|\.bz2)?$")


@dataclass(frozen=True)
class SegmentFile:
    """One log file to read, with what its location says about it (``None`` when it says nothing)."""

    path: Path
    route: str | None
    number: int | None
    kind: Kind


def resolve_segments(path_or_paths: PathLike | Iterable[PathLike]) -> list[SegmentFile]:
    """The log files behind an input, in reading order.

    Raises ``InputError`` for a missing path or a folder without logs, naming the path and what
    would have been accepted.
    """
    if isinstance(path_or_paths, str | Path):
        return _resolve_one(Path(path_or_paths))
    paths = [Path(p) for p in path_or_paths]
    if not paths:
        raise InputError(
            "no input given: pass a log file, a segment folder, a route folder or a list of them"
        )
    return [seg for p in paths for seg in _resolve_one(p)]


def _resolve_one(path: Path) -> list[SegmentFile]:
    if not path.exists():
        raise InputError(f"{path}: no such file or folder; check the path", path)
    if path.is_file():
        return [_segment_file(path)]
    found = _segment_folder(path)
    if found is not None:
        return [found]
    segments = _route_folder(path) or _flat_route_folder(path)
    if not segments:
        raise InputError(
            f"{path}: no openpilot log here: expected rlog/qlog files (.zst, .bz2 or raw), segment "
            "folders named '<route>--N', or '<route>--N--rlog.zst' files",
            path,
        )
    return segments


def _kind(name: str) -> Kind:
    if name == "rlog" or name.startswith("rlog.") or name.endswith("--rlog") or "--rlog." in name:
        return "rlog"
    if name == "qlog" or name.startswith("qlog.") or name.endswith("--qlog") or "--qlog." in name:
        return "qlog"
    return "unknown"


def _parse_dir_name(name: str) -> tuple[str | None, int | None]:
    match = _SEGMENT_DIR.match(name)
    if match is None:
        return None, None
    return match["route"] or None, int(match["n"])


def _segment_file(path: Path) -> SegmentFile:
    """A file named directly: its folder may name the route and segment, its name the kind."""
    flat = _FLAT_FILE.match(path.name)
    if flat is not None:
        return SegmentFile(path, flat["route"] or None, int(flat["n"]), flat["kind"])  # type: ignore[arg-type]
    route, number = _parse_dir_name(path.parent.name)
    return SegmentFile(path, route, number, _kind(path.name))


def _segment_folder(folder: Path) -> SegmentFile | None:
    for name in LOG_NAMES:
        candidate = folder / name
        if candidate.is_file():
            route, number = _parse_dir_name(folder.name)
            return SegmentFile(candidate, route, number, _kind(name))
    return None


def _route_folder(folder: Path) -> list[SegmentFile]:
    """Segment folders ordered by route name, then by N as a number (--2 before --10)."""
    found = []
    for child in folder.iterdir():
        if child.is_dir() and _SEGMENT_DIR.match(child.name):
            seg = _segment_folder(child)
            if seg is not None:
                found.append(seg)
    return sorted(found, key=lambda s: (s.route or "", s.number or 0))


def _flat_route_folder(folder: Path) -> list[SegmentFile]:
    """``<route>--N--rlog.zst`` files side by side; per segment the rlog wins over the qlog."""
    best: dict[tuple[str, int], SegmentFile] = {}
    for child in folder.iterdir():
        if not (child.is_file() and _FLAT_FILE.match(child.name)):
            continue
        seg = _segment_file(child)
        key = (seg.route or "", seg.number or 0)
        current = best.get(key)
        if current is None or _rank(child.name) < _rank(current.path.name):
            best[key] = seg
    return [best[k] for k in sorted(best)]


def _rank(name: str) -> int:
    suffix = name.rsplit("--", 1)[-1]
    return LOG_NAMES.index(suffix) if suffix in LOG_NAMES else len(LOG_NAMES)
