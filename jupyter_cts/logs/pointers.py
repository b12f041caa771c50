"""Follow Cap'n Proto pointers one event at a time, for the few fields read outside the numpy pass.

Why not pycapnp: it crashes the interpreter (segfault) on a Text that lacks its NUL terminator,
which one flipped byte in a log produces. Texts (car fingerprint, dongle id, ...) are therefore read
here, with every pointer bounds-checked and far pointers (landing pads, double-far) followed, so a
damaged event becomes a ``PointerError`` with the byte offset of the bad pointer.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

_WORD = struct.Struct("<Q")


class PointerError(Exception):
    """A pointer leads outside its message or to the wrong kind of object."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(reason)
        self.offset = offset
        self.reason = reason


@dataclass(frozen=True)
class StructRef:
    """A struct found in a message: segment, first word, section sizes."""

    segment: int
    word: int
    data_words: int
    pointer_words: int


def _signed30(ptr: int) -> int:
    off = (ptr & 0xFFFFFFFF) >> 2
    return off - (1 << 30) if off & (1 << 29) else off


class MessageView:
    """One message of a stream: its segment table, and bounds-checked reads inside its segments."""

    def __init__(self, data: bytes | memoryview, start: int, end: int) -> None:
        self.data = data
        self.start = start
        if end - start < 8:
            raise PointerError(start, "message shorter than its segment table")
        (count,) = struct.unpack_from("<I", data, start)
        count += 1
        header = 4 + 4 * count
        header += -header % 8
        if start + header > end:
            raise PointerError(start, f"segment table of {count} segments does not fit the message")
        sizes = struct.unpack_from(f"<{count}I", data, start + 4)
        self.segments: list[tuple[int, int]] = []  # (byte offset, words)
        pos = start + header
        for size in sizes:
            self.segments.append((pos, size))
            pos += 8 * size
        if pos > end:
            raise PointerError(start, "segments run past the end of the message")

    def offset(self, segment: int, word: int) -> int:
        """Byte offset in the stream of a word of a segment (for error messages)."""
        return self.segments[segment][0] + 8 * word if segment < len(self.segments) else self.start

    def word(self, segment: int, word: int) -> int:
        if segment >= len(self.segments) or not 0 <= word < self.segments[segment][1]:
            raise PointerError(
                self.offset(min(segment, len(self.segments) - 1), 0), "pointer outside its segment"
            )
        return int(_WORD.unpack_from(self.data, self.segments[segment][0] + 8 * word)[0])

    def _resolve(self, segment: int, at: int) -> tuple[int, int, int] | None:
        """(segment, first word of the target, the pointer word that describes it) or None if null."""
        ptr = self.word(segment, at)
        if ptr == 0:
            return None
        if ptr & 3 != 2:
            return segment, at + 1 + _signed30(ptr), ptr
        pad_segment, pad = ptr >> 32, (ptr >> 3) & 0x1FFFFFFF
        landing = self.word(pad_segment, pad)
        if not (ptr >> 2) & 1:
            if landing & 3 == 2:
                raise PointerError(self.offset(segment, at), "a far pointer lands on another far pointer")
            return pad_segment, pad + 1 + _signed30(landing), landing
        # Double-far: the pad is a far pointer to the content, followed by the tag that describes it.
        tag = self.word(pad_segment, pad + 1)
        if landing & 3 != 2 or (landing >> 2) & 1:
            raise PointerError(self.offset(segment, at), "a double-far landing pad is not a far pointer")
        return landing >> 32, (landing >> 3) & 0x1FFFFFFF, tag

    def _pointer(self, parent: StructRef, slot: int) -> tuple[int, int, int, int] | None:
        """(word of pointer ``slot`` of ``parent``, then what ``_resolve`` gives); None if absent or null."""
        if slot >= parent.pointer_words:
            return None
        at = parent.word + parent.data_words + slot
        found = self._resolve(parent.segment, at)
        return None if found is None else (at, *found)

    def root(self) -> StructRef | None:
        return self.struct(StructRef(0, 0, 0, 1), 0)  # the root pointer is word 0 of segment 0

    def struct(self, parent: StructRef, slot: int) -> StructRef | None:
        """The struct pointed to by pointer ``slot`` of ``parent`` (None when absent or null)."""
        found = self._pointer(parent, slot)
        if found is None:
            return None
        at, segment, word, ptr = found
        if ptr & 3 != 0:
            raise PointerError(self.offset(parent.segment, at), "expected a struct pointer")
        ref = StructRef(segment, word, (ptr >> 32) & 0xFFFF, ptr >> 48)
        if word < 0 or word + ref.data_words + ref.pointer_words > self.segments[segment][1]:
            raise PointerError(self.offset(parent.segment, at), "struct pointer outside its segment")
        return ref

    def text(self, parent: StructRef, slot: int) -> str | None:
        """A Text field; None when absent, null or empty. Invalid UTF-8 is replaced, not fatal."""
        found = self._pointer(parent, slot)
        if found is None:
            return None
        at, segment, word, ptr = found
        count = ptr >> 35
        if ptr & 3 != 1 or (ptr >> 32) & 7 != 2:
            raise PointerError(self.offset(parent.segment, at), "a text pointer is not a byte list")
        if word < 0 or 8 * word + count > 8 * self.segments[segment][1]:
            raise PointerError(self.offset(parent.segment, at), "a text pointer leads outside its segment")
        begin = self.segments[segment][0] + 8 * word
        raw = bytes(self.data[begin : begin + count])
        if not raw.endswith(b"\x00"):
            raise PointerError(self.offset(parent.segment, at), "a text is not NUL-terminated")
        return raw[:-1].decode("utf-8", "replace") or None

    def uint(self, parent: StructRef, byte: int, size: int) -> int:
        """An unsigned integer field at ``byte`` of the data section (0 when the section is shorter)."""
        if byte + size > 8 * parent.data_words:
            return 0
        begin = self.segments[parent.segment][0] + 8 * parent.word + byte
        return int.from_bytes(self.data[begin : begin + size], "little")
