"""Decode the event stream's Cap'n Proto wire format with numpy, without a Python object per frame.

A log is Cap'n Proto messages back to back. Each message starts with a segment table (u32 segment
count - 1, one u32 size in words per segment, padding to a word), then its segments. A pointer is
one little-endian word: bits 0-1 kind (0 struct, 1 list, 2 far, 3 other), bits 2-31 a signed word
offset from the end of the pointer; a struct pointer then holds data/pointer section sizes in bits
32-47/48-63, a list pointer an element size code in bits 32-34 and a count in bits 35-63. A list of
structs ("inline composite", size code 7) counts words, and starts with a tag word shaped like a
struct pointer whose offset field holds the element count.

The fast path reads what openpilot writes for ``can`` events: single-segment messages with near
pointers. Any other message that holds a ``can`` list (several segments, far pointers, unusual list
encodings) is decoded by pycapnp, that message only, so the result is always exactly what the
schema says. Every pointer is bounds-checked against its message's segment: damage becomes a
``LogFormatError`` with a byte offset, never an IndexError.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import capnp
import numpy as np

from jupyter_cts.errors import LogFormatError
from jupyter_cts.logs.schema import CAN_DATA, EVENT, Event
from jupyter_cts.logs.table import CanTable

# More segments than this in one event is not something a logger writes: treat it as garbage.
MAX_SEGMENTS = 512
CANFD_MAX = 64

_U = np.uint64
_KIND = _U(3)
_LIST_SIZE_AND_KIND = _U(0x7_0000_0003)
_BYTE_LIST = _U(0x2_0000_0001)  # list pointer (kind 1), element size code 2 (one byte)
_STRUCT_LIST = _U(0x7_0000_0001)  # list pointer, element size code 7 (inline composite)
# _BYTE_MASKS[k] keeps the first k bytes of a little-endian word.
_BYTE_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1], np.uint64)


@dataclass
class Framing:
    """Where each message of a stream lies (byte offsets) and where its first segment is (words)."""

    start: np.ndarray  # int64 byte offset of the message's segment table
    end: np.ndarray  # int64 byte offset one past the message
    seg0: np.ndarray  # int64 word index of segment 0
    seg0_words: np.ndarray  # int64
    multi: np.ndarray  # bool: more than one segment
    damage: tuple[int, str] | None  # where framing stopped, and why


@dataclass
class WireEvents:
    """What the wire pass learns: per event its place, time and union member; all CAN frames."""

    start: np.ndarray
    end: np.ndarray
    t_ns: np.ndarray  # uint64 logMonoTime
    which: np.ndarray  # uint16 union discriminant (EVENT.names[which] is the service)
    can: CanTable
    seg0: np.ndarray  # word index of each event's segment 0 (its root pointer)
    seg0_words: np.ndarray
    multi: np.ndarray  # bool: the event spans several segments
    damage: LogFormatError | None = None
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.start.shape[0])


# -- step 1: framing ----------------------------------------------------------------------------


def _u32_words(data: bytes) -> memoryview:
    n = len(data) - len(data) % 4
    if sys.byteorder == "little":
        return memoryview(data)[:n].cast("I")
    return memoryview(np.frombuffer(data, "<u4", count=n // 4).astype("=u4").tobytes()).cast("I")


# An Event at the start of a single-segment message: the root pointer right behind the header points
# at a struct laid out right behind it (offset 0) with the Event's section sizes, as builders write it.
_ROOT_SIG = _U((EVENT.pointer_words << 48) | (EVENT.data_words << 32))
_LOW32 = _U(0xFFFFFFFF)


def frame_messages(data: bytes) -> Framing:
    """Split the stream into messages.

    Framing is sequential (each header says where the next message starts), so a Python loop per
    message would cost as much as decompression. Instead, guess: every word pair that looks like a
    single-segment header followed by an Event root pointer is a candidate, and a run of candidates
    each of whose header points exactly at the next one is accepted at once, starting from a known
    boundary. A guess inside a message never chains from a real boundary, so it is never accepted.
    Whatever the guess misses (multi-segment messages, other layouts) takes one scalar step.
    """
    n = len(data)
    n_words = n // 8
    u64 = np.frombuffer(data, "<u8", count=n_words)
    u32 = _u32_words(data)
    cand = np.flatnonzero(u64[1:] == _ROOT_SIG)
    head = u64[cand]
    nxt = cand + 1 + (head >> _U(32)).astype(np.int64)
    single = (head & _LOW32) == 0
    links = single[:-1] & (nxt[:-1] == cand[1:])
    stops = np.append(np.flatnonzero(~links), len(cand) - 1)  # where a chain of candidates ends
    cand_list = cand.tolist() if len(cand) < 64 else None  # tiny inputs: skip numpy lookups

    chunks: list[np.ndarray] = []
    multi: dict[int, tuple[int, int]] = {}  # start word -> (header words, segment 0 words)
    damage = None
    w = 0
    while w < n_words:
        i = int(np.searchsorted(cand, w)) if cand_list is None else _bisect(cand_list, w)
        if i < len(cand) and cand[i] == w and single[i]:
            j = int(stops[np.searchsorted(stops, i)])
            if single[j]:
                chunks.append(cand[i : j + 1])
                w = int(nxt[j])
            else:  # the run reaches a boundary whose header is not single-segment: the scalar step reads it
                chunks.append(cand[i:j])
                w = int(cand[j])
            continue
        # One message the guess did not cover: read its segment table.
        count = u32[2 * w] + 1
        hdr_words = (count >> 1) + 1
        if count > MAX_SEGMENTS or w + hdr_words > n_words:
            damage = (w * 8, f"not a Cap'n Proto message header (claims {count} segments)")
            if w + hdr_words > n_words and count <= MAX_SEGMENTS:
                damage = (w * 8, f"the stream ends at byte {n}, inside the header of a message (file cut?)")
            break
        sizes = u32[2 * w + 1 : 2 * w + 1 + count]
        if count > 1:
            multi[w] = (hdr_words, sizes[0])
        chunks.append(np.array([w], np.int64))
        w += hdr_words + sum(sizes)

    start_w = np.concatenate(chunks) if chunks else np.zeros(0, np.int64)
    if n == 0:
        damage = (0, "the log is empty: no events at all")
    elif damage is None and w > n_words:
        last = int(start_w[-1]) * 8
        start_w = start_w[:-1]
        multi.pop(last // 8, None)
        damage = (
            last,
            f"the stream ends at byte {n}, inside a message that starts at byte {last} (file cut?)",
        )
        w = last // 8
    elif damage is None and n % 8:
        damage = (w * 8, f"{n % 8} stray bytes after the last message (file cut?)")
    seg0 = start_w + 1
    seg0_words = (u64[start_w] >> _U(32)).astype(np.int64) if start_w.shape[0] else np.zeros(0, np.int64)
    is_multi = np.zeros(start_w.shape[0], bool)
    if multi:
        where = np.searchsorted(start_w, np.fromiter(multi, np.int64, len(multi)))
        for k, (hdr_words, words) in zip(where.tolist(), multi.values(), strict=True):
            seg0[k] = start_w[k] + hdr_words
            seg0_words[k] = words
            is_multi[k] = True
    start = start_w * 8
    end = np.append(start[1:], w * 8).astype(np.int64)
    return Framing(start, end, seg0, seg0_words, is_multi, damage)


def _bisect(values: list[int], x: int) -> int:
    import bisect

    return bisect.bisect_left(values, x)


# -- helpers --------------------------------------------------------------------------------------


def _offsets(ptr: np.ndarray) -> np.ndarray:
    """Bits 2-31 of pointer words as signed word offsets (int64)."""
    low = (ptr & _U(0xFFFFFFFF)).astype(np.uint32).view(np.int32)
    return (low >> 2).astype(np.int64)


def _take(arr: np.ndarray, idx: np.ndarray, ok: np.ndarray | bool = True) -> np.ndarray:
    """``arr[idx]`` where ``ok`` (else 0); indices are clipped, so garbage can never raise."""
    if arr.shape[0] == 0:
        return np.zeros(np.shape(idx), arr.dtype)
    out = arr.take(idx, mode="clip")
    if ok is not True and not np.all(ok):
        out[~np.broadcast_to(ok, out.shape)] = 0
    return out


class _Damage:
    """The earliest damaged message seen so far: the stream is cut there."""

    def __init__(self) -> None:
        self.msg: int | None = None
        self.offset = 0
        self.reason = ""

    def add(self, msg: int, offset: int, reason: str) -> None:
        if self.msg is None or msg < self.msg:
            self.msg, self.offset, self.reason = msg, offset, reason

    def first_of(self, bad: np.ndarray, msgs: np.ndarray, offsets: np.ndarray, reason: str) -> None:
        """Record the first true entry of ``bad`` (message indices ``msgs``, byte ``offsets``)."""
        hits = np.flatnonzero(bad)
        if hits.shape[0]:
            k = hits[np.argmin(msgs[hits])]
            self.add(int(msgs[k]), int(offsets[k]), reason)


# -- steps 2 and 3: events and their can lists ---------------------------------------------------


@dataclass
class _Roots:
    """Per message: its Event struct (word index and section sizes) as the root pointer says."""

    struct_w: np.ndarray
    dw: np.ndarray
    pw: np.ndarray
    near: np.ndarray  # root is a struct inside segment 0: the fast path can read it


def _read_roots(u64: np.ndarray, fr: Framing, bad: _Damage) -> _Roots:
    root_w = fr.seg0
    has_root = fr.seg0_words > 0
    ptr = _take(u64, root_w, has_root)
    dw = ((ptr >> _U(32)) & _U(0xFFFF)).astype(np.int64)
    pw = (ptr >> _U(48)).astype(np.int64)
    struct_w = root_w + 1 + _offsets(ptr)
    near = (
        has_root
        & ((ptr & _KIND) == 0)
        & (struct_w >= fr.seg0)
        & (struct_w + dw + pw <= fr.seg0 + fr.seg0_words)
    )
    far = fr.multi & has_root & ((ptr & _KIND) == 2)  # legal across segments: pycapnp follows it
    bad.first_of(
        ~near & ~far, np.arange(near.shape[0]), root_w * 8, "the event's root pointer is not a struct in it"
    )
    return _Roots(struct_w, dw, pw, near)


@dataclass
class _Elements:
    """Fast-path CAN frames, in message order, and which messages they came from."""

    msgs: np.ndarray  # message index of each fast list
    counts: np.ndarray  # frames per fast list
    address: np.ndarray
    src: np.ndarray
    dlc: np.ndarray  # int64 payload length as logged (may exceed 64 in garbage)
    dat_w: np.ndarray  # word index of each payload


def _read_can_lists(u64: np.ndarray, msgs: np.ndarray, roots: _Roots, fr: Framing, bad: _Damage) -> _Elements:
    """Every element of every fast-path can list: address, src and dat, by fancy indexing."""
    lo = fr.seg0[msgs]
    hi = lo + fr.seg0_words[msgs]
    has_ptr = roots.pw[msgs] > EVENT.can_pointer
    ptr_w = roots.struct_w[msgs] + roots.dw[msgs] + EVENT.can_pointer
    lp = _take(u64, ptr_w, has_ptr)
    list_w = ptr_w + 1 + _offsets(lp)
    n_words = (lp >> _U(35)).astype(np.int64)
    composite = (lp & _LIST_SIZE_AND_KIND) == _STRUCT_LIST
    in_seg = composite & (list_w >= lo) & (list_w + 1 + n_words <= hi)
    tag = _take(u64, list_w, in_seg)
    n_el = ((tag & _U(0xFFFFFFFF)) >> _U(2)).astype(np.int64)
    edw = ((tag >> _U(32)) & _U(0xFFFF)).astype(np.int64)
    epw = (tag >> _U(48)).astype(np.int64)
    stride = edw + epw
    fits = ((tag & _KIND) == 0) & (n_el * stride <= n_words) & ((stride > 0) | (n_el == 0))
    ok = (lp == 0) | (in_seg & fits)
    bad.first_of(~ok, msgs, ptr_w * 8, "the can list pointer is not a list of structs inside the event")
    n_el[~ok | (lp == 0)] = 0

    # Word index of every element: list start + index within the list * stride. The lists were
    # checked to lie inside their segments, so every element word below is a valid index.
    total = int(n_el.sum())
    first = np.cumsum(n_el) - n_el
    uniform = stride.shape[0] == 0 or bool((stride == stride[0]).all() and (edw == edw[0]).all())
    elem_dw: np.ndarray | int
    elem_pw: np.ndarray | int
    if uniform:
        s = int(stride[0]) if stride.shape[0] else 0
        elem_dw, elem_pw = (int(edw[0]), int(epw[0])) if edw.shape[0] else (0, 0)
        elem_w = np.repeat(list_w + 1 - first * s, n_el)
        elem_w += np.arange(0, total * s, s, dtype=np.int64) if s else 0
    else:
        elem_dw, elem_pw = np.repeat(edw, n_el), np.repeat(epw, n_el)
        elem_w = np.repeat(list_w + 1, n_el)
        elem_w += (np.arange(total, dtype=np.int64) - np.repeat(first, n_el)) * np.repeat(stride, n_el)

    words: dict[int, np.ndarray] = {}  # address and src share a data word in today's schema
    address = _field(u64, elem_w, elem_dw, CAN_DATA.address_byte, words).astype(np.uint32)  # low bits
    src = _field(u64, elem_w, elem_dw, CAN_DATA.src_byte, words).astype(np.uint8)

    dp_w = elem_w + (elem_dw + CAN_DATA.dat_pointer)
    dp = u64.take(dp_w, mode="clip")
    if not np.all(np.greater(elem_pw, CAN_DATA.dat_pointer)):
        dp[~np.broadcast_to(np.greater(elem_pw, CAN_DATA.dat_pointer), dp.shape)] = 0
    dat_w = (dp.view("<i8") << 32) >> 34  # bits 2-31, sign extended: the word offset
    dat_w += dp_w + 1
    dlc = (dp >> _U(35)).view(np.int64)  # a null pointer gives 0
    # Each dat must be a byte list (or null) and lie inside its message's segment.
    rel = dat_w - np.repeat(lo, n_el)
    end = (rel << 3) + dlc
    wrong = end > np.repeat((hi - lo) << 3, n_el)
    wrong |= rel < 0
    kinds_ok = np.count_nonzero((dp & _LIST_SIZE_AND_KIND) == _BYTE_LIST) + np.count_nonzero(dp == 0)
    if kinds_ok < total:
        wrong |= ((dp & _LIST_SIZE_AND_KIND) != _BYTE_LIST) & (dp != 0)
    if wrong.any():
        bad.first_of(
            wrong,
            np.repeat(msgs, n_el),
            dp_w * 8,
            "a CAN frame's dat pointer is not a byte list inside the event",
        )
        dlc[wrong] = 0
    return _Elements(msgs, n_el, address, src, dlc, dat_w)


def _field(
    u64: np.ndarray, elem_w: np.ndarray, elem_dw: np.ndarray | int, byte: int, words: dict[int, np.ndarray]
) -> np.ndarray:
    """The data-section word holding ``byte``, shifted so that byte is lowest; 0 past the section."""
    k = byte // 8
    if k not in words:
        words[k] = u64.take(elem_w + k if k else elem_w, mode="clip")
        present = np.greater(elem_dw, k)
        if not np.all(present):
            words[k][~np.broadcast_to(present, words[k].shape)] = 0
    return words[k] >> _U(8 * (byte % 8)) if byte % 8 else words[k]


# -- pycapnp for the rest --------------------------------------------------------------------------

Frames = list[tuple[int, int, bytes]]  # (address, src, dat)


def _decode_slow(
    data: bytes, fr: Framing, idx: np.ndarray, t_ns: np.ndarray, which: np.ndarray, bad: _Damage
) -> dict[int, Frames]:
    """pycapnp for the messages the fast path leaves alone; fills t_ns/which, returns can frames."""
    frames: dict[int, Frames] = {}
    for i in idx.tolist():
        if bad.msg is not None and i >= bad.msg:
            break
        s, e = int(fr.start[i]), int(fr.end[i])
        try:
            with Event.from_bytes(data[s:e]) as ev:
                t_ns[i] = ev.logMonoTime
                which[i] = _discriminant(ev)
                if which[i] == EVENT.can:
                    frames[i] = [(c.address, c.src, bytes(c.dat)) for c in ev.can]
        except (capnp.KjException, ValueError) as err:
            bad.add(i, s, f"Cap'n Proto cannot decode this event ({str(err).splitlines()[0]})")
            break
    return frames


def _discriminant(ev: object) -> int:
    try:
        name = ev.which()  # type: ignore[attr-defined]
    except capnp.KjException:
        return 0xFFFF  # a union member newer than this schema
    return EVENT.names.index(str(name))


# -- assembling the table ------------------------------------------------------------------------


def _payloads(u64: np.ndarray, dat_w: np.ndarray, dlc: np.ndarray, width: int) -> np.ndarray:
    """Payloads start on word boundaries: one gather per 8 bytes, then mask what is past the end."""
    n = dat_w.shape[0]
    if width == 8:
        words = u64.take(dat_w, mode="clip")
        if n and int(dlc.min()) < 8:
            words &= _BYTE_MASKS[np.minimum(dlc, 8)]
        return words.view(np.uint8).reshape(n, 8)  # '<u8' words: bytes in stream order
    k = np.arange(width // 8, dtype=np.int64)
    words = u64.take(dat_w[:, None] + k[None, :], mode="clip")
    words &= _BYTE_MASKS[np.clip(dlc[:, None] - 8 * k[None, :], 0, 8)]
    return words.view(np.uint8).reshape(n, width)


def _assemble(
    u64: np.ndarray,
    el: _Elements,
    slow: dict[int, Frames],
    t_ns: np.ndarray,
    n_msgs: int,
    warnings: list[str],
    path: str | Path,
) -> CanTable:
    """Fast and slow frames in log order; only the frames of messages before ``n_msgs``."""
    keep = el.msgs < n_msgs
    if not keep.all():
        n_fast = int(el.counts[keep].sum())
        el = _Elements(
            el.msgs[keep],
            el.counts[keep],
            el.address[:n_fast],
            el.src[:n_fast],
            el.dlc[:n_fast],
            el.dat_w[:n_fast],
        )
    slow_items = sorted((i, f) for i, f in slow.items() if i < n_msgs)
    longest = max(
        [int(el.dlc.max()) if el.dlc.shape[0] else 0] + [len(d) for _, f in slow_items for *_, d in f]
    )
    if longest > CANFD_MAX:
        warnings.append(f"{path}: CAN payloads of up to {longest} bytes were cut to CAN-FD's {CANFD_MAX}")
    width = 8 if longest <= 8 else CANFD_MAX
    fast = CanTable(
        t_ns=np.repeat(t_ns[el.msgs], el.counts).astype(np.uint64, copy=False),
        bus=el.src,
        address=el.address,
        dlc=(np.minimum(el.dlc, CANFD_MAX) if longest > CANFD_MAX else el.dlc).astype(np.uint8),
        data=_payloads(u64, el.dat_w, el.dlc, width),
    )
    if not slow_items:
        return fast
    return _merge(fast, el, slow_items, t_ns, width)


def _merge(
    fast: CanTable, el: _Elements, slow_items: list[tuple[int, Frames]], t_ns: np.ndarray, width: int
) -> CanTable:
    """Interleave the pycapnp-decoded messages' frames with the fast ones, by message index."""
    msgs = np.concatenate([el.msgs, np.asarray([i for i, _ in slow_items], np.int64)])
    counts = np.concatenate([el.counts, np.asarray([len(f) for _, f in slow_items], np.int64)])
    order = np.argsort(msgs, kind="stable")
    start = np.empty_like(counts)
    start[order] = np.cumsum(counts[order]) - counts[order]
    n_lists = el.msgs.shape[0]
    dest = np.repeat(start[:n_lists] - (np.cumsum(el.counts) - el.counts), el.counts) + np.arange(len(fast))
    total = int(counts.sum())
    out = CanTable(
        t_ns=np.zeros(total, np.uint64),
        bus=np.zeros(total, np.uint8),
        address=np.zeros(total, np.uint32),
        dlc=np.zeros(total, np.uint8),
        data=np.zeros((total, width), np.uint8),
    )
    for name in ("t_ns", "bus", "address", "dlc", "data"):
        getattr(out, name)[dest] = getattr(fast, name)
    for k, (i, frames) in enumerate(slow_items):
        row = int(start[n_lists + k])
        for j, (address, src, dat) in enumerate(frames):
            dat = dat[:CANFD_MAX]
            out.t_ns[row + j] = t_ns[i]
            out.address[row + j] = address
            out.bus[row + j] = src
            out.dlc[row + j] = len(dat)
            out.data[row + j, : len(dat)] = np.frombuffer(dat, np.uint8)
    return out


# -- the whole pass ---------------------------------------------------------------------------------


def decode_events(data: bytes, path: str | Path, *, salvage: bool = False) -> WireEvents:
    """Frame ``data``, read every event's time and type, and every ``can`` frame.

    On damage, raise ``LogFormatError`` unless ``salvage``; then return the events before the
    damaged message, with the error in ``damage``.
    """
    fr = frame_messages(data)
    n_bytes = len(data) - len(data) % 8
    u64 = np.frombuffer(data, "<u8", count=n_bytes // 8)
    bad = _Damage()

    roots = _read_roots(u64, fr, bad)
    near, struct_w, dw = roots.near, roots.struct_w, roots.dw
    t_word = EVENT.log_mono_time_byte // 8
    t_ns = _take(u64, struct_w + t_word, near & (dw > t_word)).astype(np.uint64)
    which = _take(
        u64.view("<u2"), struct_w * 4 + EVENT.which_byte // 2, near & (dw * 8 >= EVENT.which_byte + 2)
    )
    which = which.astype(np.uint16)

    is_can = near & (which == EVENT.can)
    elements = _read_can_lists(u64, np.flatnonzero(is_can & ~fr.multi), roots, fr, bad)
    slow = np.flatnonzero((~near & fr.multi) | (is_can & fr.multi))
    slow_frames = _decode_slow(data, fr, slow, t_ns, which, bad)

    n_msgs = len(fr.start) if bad.msg is None else bad.msg
    damage = None
    if bad.msg is not None:
        damage = LogFormatError(path, bad.offset, bad.reason)
    elif fr.damage is not None:
        damage = LogFormatError(path, *fr.damage)
    if damage is not None and not salvage:
        raise damage

    warnings: list[str] = []
    can = _assemble(u64, elements, slow_frames, t_ns, n_msgs, warnings, path)
    return WireEvents(
        start=fr.start[:n_msgs],
        end=fr.end[:n_msgs],
        t_ns=t_ns[:n_msgs],
        which=which[:n_msgs],
        can=can,
        seg0=fr.seg0[:n_msgs],
        seg0_words=fr.seg0_words[:n_msgs],
        multi=fr.multi[:n_msgs],
        damage=damage,
        warnings=warnings,
    )
