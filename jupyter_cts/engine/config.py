"""How an engine is set up. The server fills this from its traitlets, the CLI from its flags.

Plain data with checks, so a wrong setting fails when the engine is built, not during a run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

GIB = 1024**3


@dataclass
class EngineConfig:
    """Limits, folders and the executor of one :class:`~jupyter_cts.engine.ExecutionEngine`.

    ``root_dir`` and ``allowed_input_dirs`` bound which paths a run may read (after resolving
    symlinks). Retention is off unless ``retention_days`` or ``retention_max_runs`` is set.
    """

    data_dir: Path
    root_dir: Path = field(default_factory=Path.cwd)
    allowed_input_dirs: list[Path] = field(default_factory=list)
    max_concurrent_runs: int = field(default_factory=lambda: os.cpu_count() or 1)
    max_queued_runs: int = 100
    default_timeout_s: float = 3600.0
    max_timeout_s: float = 6 * 3600.0
    max_upload_bytes: int = 2 * GIB
    executor: str = "local"
    dask_scheduler_address: str | None = None
    retention_days: float | None = None
    retention_max_runs: int | None = None
    # How often a run's progress may be written to the store (the final state is always written).
    progress_interval_s: float = 0.05
    # How often retention sweeps run while the engine is up (when retention is on).
    retention_interval_s: float = 600.0
    # False (a server): the engine owns data_dir alone and runs every queued run in it.
    # True (``cts run --local``): several engines may share data_dir, each running only the runs it
    # was given; the first to start after all others ended recovers what a crashed one left.
    shared_data_dir: bool = False

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).expanduser()
        self.root_dir = Path(self.root_dir).expanduser()
        self.allowed_input_dirs = [Path(p).expanduser() for p in self.allowed_input_dirs]
        _positive("max_concurrent_runs", self.max_concurrent_runs)
        _positive("max_timeout_s", self.max_timeout_s)
        _positive("default_timeout_s", self.default_timeout_s)
        _positive("max_upload_bytes", self.max_upload_bytes)
        if self.max_queued_runs < 0:
            raise ValueError(f"max_queued_runs is {self.max_queued_runs}: use 0 or more")
        # A maximum below the default lowers the default: runs must always be allowed to start.
        self.default_timeout_s = min(self.default_timeout_s, self.max_timeout_s)
        if self.retention_days is not None:
            _positive("retention_days", self.retention_days)
        if self.retention_max_runs is not None and self.retention_max_runs < 0:
            raise ValueError(
                f"retention_max_runs is {self.retention_max_runs}: use 0 or more, or None to keep all"
            )

    @property
    def retention_enabled(self) -> bool:
        return self.retention_days is not None or self.retention_max_runs is not None

    def input_roots(self) -> list[Path]:
        """The folders inputs may come from, symlinks resolved, root_dir first."""
        roots = [self.root_dir, *self.allowed_input_dirs]
        return [p.resolve() for p in roots]


def _positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name} is {value}: it must be greater than 0")
