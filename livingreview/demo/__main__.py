"""``python -m livingreview.demo``: write the simulated demo review."""

from .generator import main

if __name__ == "__main__":
    raise SystemExit(main())
