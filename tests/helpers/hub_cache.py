"""A Hugging Face Hub cache in the real on-disk layout, so offline tests resolve names through huggingface_hub."""
import shutil
from pathlib import Path

SNAPSHOT = "0123456789abcdef0123456789abcdef01234567"


def fake_cache(root: Path, repo_id: str, source_folder: Path) -> Path:
    """Copy `source_folder` into `root` as repo_id's cached snapshot: models--org--name/{refs/main,
    snapshots/<commit>/files}. Returns the snapshot folder."""
    repo = Path(root) / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / SNAPSHOT
    shutil.copytree(source_folder, snapshot)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(SNAPSHOT)
    return snapshot
