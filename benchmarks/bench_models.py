"""Whole-model benchmark: the same as `fastenc bench` (see fastenc/bench.py for the options)."""
import sys

from fastenc.bench import main

if __name__ == "__main__":
    sys.exit(main())
