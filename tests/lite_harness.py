"""A real ``cts-lite`` for the stories that go through HTTP (CLI, client, widgets, notebooks, fuzzing).

Every server started here gets an isolated environment: its own Jupyter runtime folder and none of
the CTS_*/JUPYTERHUB_* variables of the developer's shell, so a test never finds another server and
no other server or kernel finds the test's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from jupyter_cts.server.lite import LiteProcess, launch

TEST_PLUGINS = (
    Path(__file__).parent / "plugins"
)  # test tools, registered through entry points like any plugin
_FOREIGN_VARS = ("CTS_", "JUPYTER_CTS_", "JUPYTERHUB_", "JPY_")


def host_env() -> dict[str, str]:
    """This process's environment minus anything that would point a client at another server."""
    return {k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN_VARS)}


def clean_env(runtime_dir: Path, **extra: str) -> dict[str, str]:
    """:func:`host_env` with its own Jupyter runtime folder, for a server or a ``cts`` command."""
    env = host_env()
    env["JUPYTER_RUNTIME_DIR"] = str(runtime_dir)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def with_plugins(plugin_dir: Path) -> str:
    """PYTHONPATH with ``plugin_dir`` first, so the registry discovers the tools installed there."""
    return os.pathsep.join(p for p in (str(plugin_dir), os.environ.get("PYTHONPATH", "")) if p)


@contextmanager
def running_lite(
    base: Path,
    *,
    plugins: Path | None = None,
    drives: Sequence[str] = (),
    max_concurrent_runs: int = 2,
    args: Sequence[str] = (),
) -> Iterator[LiteProcess]:
    """``cts-lite`` on a free 127.0.0.1 port, stopped on leaving the block.

    Its folders are ``base/root`` (where inputs are read), ``base/data`` and ``base/runtime``; its
    log is ``base/server.log``. ``plugins``: a folder of test tools put on its PYTHONPATH.
    ``drives``: synth presets written as ``root/<preset>/rlog.zst`` before it starts.
    """
    from jupyter_cts.synth import preset, write_segment

    root, data, runtime = base / "root", base / "data", base / "runtime"
    for folder in (root, data, runtime):
        folder.mkdir(parents=True, exist_ok=True)
    for name in drives:
        write_segment(root / name / "rlog.zst", preset(name))
    extra = {"PYTHONPATH": with_plugins(plugins)} if plugins is not None else {}
    lite = launch(
        root,
        data_dir=data,
        env=clean_env(runtime, **extra),
        log_path=base / "server.log",
        args=["--ServerApp.allow_root=True", f"--CTSApp.max_concurrent_runs={max_concurrent_runs}", *args],
    )
    try:
        yield lite
    finally:
        lite.stop()
