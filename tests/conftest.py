"""Shared test set-up: where the shared data lives, and the Triton interpreter on machines without CUDA."""
import functools
import os
import socket
import sys
from pathlib import Path

import pytest
import torch

# Shared test helpers (checkpoint builders, the parity rule, the interpreter's fixes) live in tests/helpers/.
sys.path.insert(0, str(Path(__file__).resolve().parent / "helpers"))

# The Triton kernels run on the CPU through the interpreter; it must be switched on before triton is imported.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
if os.environ.get("TRITON_INTERPRET") == "1":
    from triton_interpreter import mend

    mend()  # the interpreter's known bugs, fixed for the tests (tests/helpers/triton_interpreter.py)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    data = SHARED / "data"
    if not data.is_dir():
        pytest.fail(
            f"shared test data not found at {data}: the tests expect the project's shared/ folder beside the checkout"
        )
    return data


@functools.cache
def hub_reachable() -> bool:
    try:
        socket.create_connection(("huggingface.co", 443), timeout=3).close()
        return True
    except OSError:
        return False


def pytest_runtest_setup(item):
    """Tests marked `hub` need the live Hugging Face Hub: skipped, with the reason, where it is unreachable."""
    if item.get_closest_marker("hub") and not hub_reachable():
        pytest.skip("the Hugging Face Hub is unreachable from this machine")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def pytest_report_header(config):
    """Which CPU kernels PyTorch dispatches to: parity errors depend on it, so every run names it."""
    chosen = {k: os.environ[k] for k in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")
              if k in os.environ}
    capability = torch.backends.cpu.get_cpu_capability()
    return f"torch {torch.__version__}, cpu capability: {capability}, dispatch variables: {chosen or 'none'}"


def pytest_terminal_summary(terminalreporter):
    from parity import ATOL, LOG, summary_lines

    if LOG:
        terminalreporter.section(
            f"fp32 parity per family: max error vs float64 reference (fastenc <= 2 * transformers + {ATOL:.0e} * "
            f"max(1, |reference|)); cpu capability {torch.backends.cpu.get_cpu_capability()}")
        for line in summary_lines():
            terminalreporter.write_line(line)
