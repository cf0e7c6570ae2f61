"""`import fastenc.ray`: the Ray Data batch calls (fastenc.integrations.ray_data), an optional extra (`fastenc[ray]`);
`import fastenc` alone never imports Ray."""
from .integrations.ray_data import DEFAULT_BATCH_ROWS, TaskActor, classify, embed, fill_mask, tag

__all__ = ["embed", "classify", "tag", "fill_mask", "TaskActor", "DEFAULT_BATCH_ROWS"]
