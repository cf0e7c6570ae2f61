"""Whole-model benchmark, the same as `fastenc bench` (options: benchmarks/harness.py)."""
import sys

from harness import main

if __name__ == "__main__":
    sys.exit(main())
