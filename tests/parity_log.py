"""The largest fp32 error against transformers seen per model family in this test run, printed at the end of it."""
from collections import defaultdict

MAX_ERROR = defaultdict(float)  # model_type -> largest |ours - transformers| over every compared output


def record(model_type: str, error: float) -> None:
    MAX_ERROR[model_type] = max(MAX_ERROR[model_type], error)
