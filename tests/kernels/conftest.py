"""Kernel tests: compiled on CUDA when present, otherwise on the CPU through the Triton interpreter.

TRITON_INTERPRET=1 must be set before fastenc.kernels is imported (`triton.jit` picks compiler or interpreter when a
kernel is defined; importing triton earlier is fine). Set here for runs of this folder alone, and in tests/conftest.py
for whole-suite runs where another folder may import the kernels first.
"""
import os

import parity
import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

# Error allowed on top of twice PyTorch's own error at the same dtype: the suite's one rule (tests/helpers/parity.py) and
# its fp32 atol; fp16 and bf16 carry ~1e3x and ~1e4x fp32's rounding, so their atol scales with it.
ATOL = {torch.float32: parity.ATOL, torch.float16: 1e-4, torch.bfloat16: 1e-3}


def _device_or_reason():
    if torch.cuda.is_available():
        return "cuda", None
    from fastenc.kernels import _utils

    if _utils.INTERPRET:
        return "cpu", None
    return None, ("no CUDA, and the kernels were imported before TRITON_INTERPRET=1 was set, so the interpreter is off "
                  "(set it in tests/conftest.py)")


@pytest.fixture(params=[_device_or_reason()[0] or "none"])
def device(request):
    """The one device the kernels can run on here: cuda (compiled) or cpu (interpreter)."""
    found, reason = _device_or_reason()
    if found is None:
        pytest.skip(reason)
    return found


@pytest.fixture
def check_error(request):
    """The suite's parity rule with the kernel in fastenc's place and PyTorch at the same dtype in transformers':
    |kernel - oracle| <= 2 * |PyTorch - oracle| + atol * max(1, |oracle|). Returns both errors."""

    def check(out, torch_out, oracle, dtype, where=None):
        assert out.dtype == dtype
        err, torch_err = parity.errors(out, torch_out, oracle, where)
        kernel = request.module.__name__.rpartition(".")[2].removeprefix("test_")
        parity.check(f"kernel {kernel} {str(dtype).removeprefix('torch.')}", request.node.name, err, torch_err,
                     parity.magnitude(oracle, where), ATOL[dtype])
        return err, torch_err

    return check


def pytest_collection_modifyitems(items):
    """A kernel test that checks errors with check_error is a parity test: `pytest -m parity` reruns it."""
    for item in items:
        if "check_error" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.parity)
