"""Committed autotuning tables, one `<gpu>.json` per GPU (README.md here); read by fastenc.kernels.tuned. A package
only so that setuptools installs the files with it."""
