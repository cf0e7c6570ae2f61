"""Kernel tests: compiled on CUDA when present, otherwise on the CPU through the Triton interpreter.

TRITON_INTERPRET=1 must be set before fastenc.kernels is imported (`triton.jit` picks compiler or interpreter when a
kernel is defined; importing triton earlier is fine). Set here for runs of this folder alone, and in tests/conftest.py
for whole-suite runs where another folder may import the kernels first.
"""
import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

# Error allowed on top of twice PyTorch's own error at the same dtype.
ATOL = {torch.float32: 1e-5, torch.float16: 1e-4, torch.bfloat16: 1e-3}


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
def check_error():
    """assert |kernel - oracle| <= 2 * |PyTorch at the same dtype - oracle| + atol; returns both errors."""

    def check(out, torch_out, oracle, dtype, where=None):
        assert out.shape == oracle.shape, (out.shape, oracle.shape)
        assert out.dtype == dtype
        diff, torch_diff = (t.double().cpu() - oracle.cpu() for t in (out, torch_out))
        if where is not None:
            diff, torch_diff = diff[where.cpu()], torch_diff[where.cpu()]
        err, torch_err = diff.abs().max().item(), torch_diff.abs().max().item()
        assert err <= 2 * torch_err + ATOL[dtype], f"error {err:.3e} > 2 * {torch_err:.3e} + {ATOL[dtype]:.0e}"
        return err, torch_err

    return check
