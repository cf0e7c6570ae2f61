"""The installed layout: kernels/ is fastenc.kernels, never a top-level `kernels` that registers ops twice."""
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_top_level_kernels_import_is_inert():
    # From the repository root, `import kernels` finds our folder (transformers probes that name for the Hub package).
    code = (
        "import kernels, fastenc.kernels, transformers.integrations.hub_kernels as hk;"
        "assert not hasattr(kernels, 'attention'), 'top-level kernels registered ops';"
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
