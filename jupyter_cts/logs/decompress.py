"""Get the raw event stream out of a log file, whatever container it came in.

The container is told by its magic bytes, never by the file name: renamed and hand-copied logs are
common. A damaged stream either raises ``LogFormatError`` (offset in the compressed file) or, when
salvaging, returns what decompressed cleanly before the damage together with that error.
"""

from __future__ import annotations

import bz2
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import zstandard

from jupyter_cts.errors import LogFormatError

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
BZIP2_MAGIC = b"BZh"
Container = Literal["zstd", "bzip2", "raw"]

# Streaming only runs when the one-shot path cannot (unknown content size, bzip2, damage).
_CHUNK = 1 << 16


@dataclass
class Decompressed:
    """The event stream of one file, and the damage that cut it short (only when salvaging)."""

    data: bytes
    container: Container
    damage: LogFormatError | None = None


def container_of(head: bytes) -> Container:
    """Which container a file is, from its first bytes."""
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if head.startswith(BZIP2_MAGIC) and head[3:4].isdigit():
        return "bzip2"
    return "raw"


def decompress_file(path: str | Path, *, salvage: bool = False) -> Decompressed:
    """Read and decompress one file; raise ``LogFormatError`` on damage unless ``salvage``."""
    raw = Path(path).read_bytes()
    container = container_of(raw[:4])
    if container == "raw":
        return Decompressed(raw, container)
    if container == "zstd":
        data = _zstd_one_shot(raw)
        if data is not None:
            return Decompressed(data, container)
    decoder = _zstd_frames if container == "zstd" else _bzip2_streams
    result = _stream(path, raw, decoder, fine_from=len(raw))
    if result.damage is not None:
        # A decoder that fails drops the output of the call that failed: read again, byte by byte
        # from the chunk that failed, so all the good data survives and the offset is exact.
        result = _stream(path, raw, decoder, fine_from=result.damage.offset)
        if not salvage and result.damage is not None:
            raise result.damage
    result.container = container
    return result


def _zstd_one_shot(raw: bytes) -> bytes | None:
    """The fast path for a single intact frame that records its size (what LogWriter writes)."""
    size = zstandard.frame_content_size(raw)
    if size < 0:
        return None
    try:
        data = zstandard.ZstdDecompressor().decompress(raw, max_output_size=size, allow_extra_data=False)
    except zstandard.ZstdError:
        return None
    return data if len(data) == size else None


class _Damage(Exception):
    def __init__(self, offset: int, reason: str) -> None:
        self.offset = offset
        self.reason = reason


Decoder = Callable[[bytes, int], Iterator[bytes]]


def _stream(path: str | Path, raw: bytes, decoder: Decoder, *, fine_from: int) -> Decompressed:
    pieces: list[bytes] = []
    damage = None
    try:
        for piece in decoder(raw, fine_from):
            pieces.append(piece)
    except _Damage as err:
        damage = LogFormatError(path, err.offset, err.reason, in_compressed=True)
    return Decompressed(b"".join(pieces), "raw", damage)


def _frames(
    raw: bytes,
    fine_from: int,
    new: Callable[[], Any],
    errors: tuple[type[Exception], ...],
    magic: bytes,
    name: str,
) -> Iterator[bytes]:
    """Decode back-to-back frames (zstd) or streams (bzip2), yielding output as it comes.

    Input goes in chunks of ``_CHUNK`` bytes up to ``fine_from``, one byte at a time after it.
    """
    pos = 0
    while pos < len(raw):
        if not raw.startswith(magic, pos):
            raise _Damage(pos, f"bytes after the {name} data are not another {name} frame")
        obj = new()
        start = pos
        while not obj.eof:
            if pos >= len(raw):
                raise _Damage(len(raw), f"the {name} stream ends inside a frame (file truncated?)")
            end = pos + 1 if pos >= fine_from else min(pos + _CHUNK, fine_from)
            piece = raw[pos:end]
            try:
                out = obj.decompress(piece)
            except errors as err:
                raise _Damage(pos, _reason(name, err)) from err
            if out:
                yield out
            pos = end
        pos -= len(obj.unused_data)
        if pos <= start:  # a decoder that consumed nothing would loop forever
            raise _Damage(start, f"empty {name} frame")


def _reason(name: str, err: Exception) -> str:
    if "checksum" in str(err):
        return (
            f"{name} checksum mismatch at the end of a frame ({err}): data anywhere in that frame may "
            "be corrupt"
        )
    return f"corrupt {name} data ({err})"


def _zstd_frames(raw: bytes, fine_from: int) -> Iterator[bytes]:
    dctx = zstandard.ZstdDecompressor()
    return _frames(raw, fine_from, dctx.decompressobj, (zstandard.ZstdError,), ZSTD_MAGIC, "zstd")


def _bzip2_streams(raw: bytes, fine_from: int) -> Iterator[bytes]:
    return _frames(raw, fine_from, bz2.BZ2Decompressor, (OSError, EOFError, ValueError), BZIP2_MAGIC, "bzip2")
