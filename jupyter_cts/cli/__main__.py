"""``python -m jupyter_cts.cli`` is ``cts``."""

from jupyter_cts.cli import main

if __name__ == "__main__":
    main()
