"""The installed layout: the kernels live in the package as fastenc.kernels; nothing at the top level registers ops."""
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_no_top_level_kernels_package():
    # transformers probes the name `kernels` for the Hub package; run from the repository root, that probe must not
    # find a folder of ours (it once did, and registered our custom ops twice).
    code = (
        "import importlib.util, fastenc.kernels, transformers.integrations.hub_kernels as hk;"
        "spec = importlib.util.find_spec('kernels');"
        "assert spec is None or 'fastenc' not in str(spec.origin), spec;"
        "assert callable(fastenc.kernels.attention);"
        "from transformers.utils.import_utils import is_kernels_available; assert not is_kernels_available();"
        "print('ok')"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_extension_and_kernels_are_installed_under_fastenc():
    import fastenc._C
    import fastenc.kernels

    assert fastenc.kernels.__name__ == "fastenc.kernels" and callable(fastenc.kernels.layer_norm)
    assert fastenc._C.__name__ == "fastenc._C" and Path(fastenc._C.__file__).suffix in (".so", ".pyd")
