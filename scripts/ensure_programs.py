"""Install the Debian programs a make target needs (chromium for the browser test, wrk for
bench/api.py) with apt-get, when they are missing and we can.

Playwright must not download a browser (no network here); it drives the system chromium instead.
When a program is missing and cannot be installed (not root, no apt-get), this says so and
succeeds anyway: the browser test then skips and says why, and bench/api.py explains what to install.

    python scripts/ensure_programs.py chromium [wrk ...]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys


def main(programs: list[str]) -> int:
    missing = [p for p in programs if not shutil.which(p)]  # each comes in the Debian package of its name
    if not missing:
        return 0
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        print(
            f"{', '.join(missing)} not found and cannot be installed here (needs root and apt-get)",
            file=sys.stderr,
        )
        return 0
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
    result = subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=False, env=env)
    if result.returncode != 0:
        print(f"apt-get install {' '.join(missing)} failed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["chromium"]))
