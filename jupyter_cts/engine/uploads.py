"""Uploaded logs: ``{data_dir}/uploads/<upload_id>/<filename>``, written as the bytes arrive.

The size limit is checked on every chunk, so an oversized upload is refused (and its partial file
deleted) as soon as it crosses the limit, never after it has filled the disk. A file only becomes
visible to runs when :meth:`UploadWriter.finish` renames it into place.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from pathlib import Path

from jupyter_cts.engine.models import Upload
from jupyter_cts.engine.store import new_id
from jupyter_cts.errors import UnknownUploadError, UploadTooLargeError

_META = "upload.json"
_ID = re.compile(r"^[0-9a-z]{8,32}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(filename: str | None) -> str:
    """A plain file name: the last path part, odd characters replaced, no leading dots."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", name).lstrip(".")[:128]
    return name if name and name != _META else "upload"


class UploadWriter:
    """One upload in progress. ``write`` chunks, then ``finish`` (or ``abort``)."""

    def __init__(
        self, folder: Path, upload_id: str, filename: str, max_bytes: int, original: str | None
    ) -> None:
        self.upload_id = upload_id
        self.filename = filename
        self._folder = folder
        self._original = original
        self._max_bytes = max_bytes
        self._partial = folder / (filename + ".part")
        self._fh = self._partial.open("wb")
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        if self._fh.closed:
            raise ValueError(f"upload {self.upload_id} is already finished or aborted")
        self.size += len(data)
        if self.size > self._max_bytes:
            self.abort()
            raise UploadTooLargeError(
                f"upload {self.filename!r} is larger than the limit of {self._max_bytes} bytes; "
                "upload a single segment or ask the administrator to raise max_upload_bytes"
            )
        self._hash.update(data)
        self._fh.write(data)

    def finish(self) -> Upload:
        self._fh.close()
        self._partial.rename(self._folder / self.filename)
        upload = Upload(
            upload_id=self.upload_id, size=self.size, sha256=self._hash.hexdigest(), filename=self.filename
        )
        meta = upload.model_dump(mode="json") | {"original_filename": self._original, "created": time.time()}
        (self._folder / _META).write_text(json.dumps(meta))
        return upload

    def abort(self) -> None:
        """Drop the partial file (a client that disconnects, a file that is too large)."""
        if not self._fh.closed:
            self._fh.close()
        shutil.rmtree(self._folder, ignore_errors=True)


class UploadStore:
    """Finished uploads by id; a run names one with ``{"type": "upload", "value": upload_id}``."""

    def __init__(self, root: str | Path, max_bytes: int) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.root.mkdir(parents=True, exist_ok=True)

    def begin(self, filename: str | None) -> UploadWriter:
        upload_id = new_id()
        folder = self.root / upload_id
        folder.mkdir(parents=True)
        return UploadWriter(folder, upload_id, safe_filename(filename), self.max_bytes, filename)

    def get(self, upload_id: str) -> Upload:
        meta = self._meta(upload_id)
        return Upload.model_validate({k: meta[k] for k in Upload.model_fields if k in meta})

    def path(self, upload_id: str) -> Path:
        """The uploaded file. ``UnknownUploadError`` for ids that are unknown or still being written."""
        meta = self._meta(upload_id)
        return self.root / upload_id / meta["filename"]

    def remove(self, upload_id: str) -> None:
        """Delete an upload, finished or not."""
        if not _ID.match(upload_id):
            raise UnknownUploadError(f"{upload_id!r} is not an upload id")
        shutil.rmtree(self.root / upload_id, ignore_errors=True)

    def older_than(self, seconds: float) -> list[str]:
        """Uploads created more than ``seconds`` ago (retention), unfinished ones included.

        An upload cut off by a server restart never gets its metadata; its folder's age counts.
        """
        cutoff = time.time() - seconds
        found = []
        for folder in self.root.iterdir() if self.root.exists() else []:
            try:
                created = float(json.loads((folder / _META).read_text()).get("created", 0))
            except (OSError, ValueError):
                try:
                    created = folder.stat().st_mtime
                except OSError:
                    continue
            if created < cutoff and _ID.match(folder.name):
                found.append(folder.name)
        return found

    def _meta(self, upload_id: str) -> dict:
        if not isinstance(upload_id, str) or not _ID.match(upload_id):
            raise UnknownUploadError(
                f"{upload_id!r} is not an upload id; upload the file first and use the id returned"
            )
        try:
            return json.loads((self.root / upload_id / _META).read_text())
        except (OSError, ValueError):
            raise UnknownUploadError(
                f"no finished upload with id {upload_id!r}; upload the file again and use the id returned"
            ) from None
