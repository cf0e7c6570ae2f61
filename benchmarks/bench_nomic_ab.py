"""Interleaved A/B on the CPU: fastenc (backend "torch") beside transformers sdpa on the nomic-embed-text-v1.5 shape
(random weights), the two runners alternating call by call so both see the same machine load.

    .venv/bin/python benchmarks/bench_nomic_ab.py [--repeats 5]
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import transformers

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import PRESETS, make_batch, mixed_lengths  # noqa: E402


def main() -> None:
    import fastenc

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    _, shape = PRESETS["nomic-embed-text-v1.5"]
    torch.manual_seed(0)
    hf = transformers.AutoModel.from_config(transformers.NomicBertConfig(**shape), attn_implementation="sdpa").eval()
    folder = tempfile.mkdtemp()
    hf.save_pretrained(folder)
    ours = fastenc.load(folder)
    cases = {"8x128": [128] * 8, "mixed16(16-512)": mixed_lengths(16, 16, 512)}
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, threads {torch.get_num_threads()}")
    with torch.inference_mode():
        for name, lengths in cases.items():
            ids, mask = make_batch(lengths, hf.config.vocab_size, hf.config.pad_token_id)
            keep = mask.bool()
            a = ours(ids, attention_mask=mask).last_hidden_state
            b = hf(input_ids=ids, attention_mask=mask).last_hidden_state
            err = (a[keep] - b[keep]).abs().max().item()
            runners = {"fastenc": lambda: ours(ids, attention_mask=mask),
                       "hf-sdpa": lambda: hf(input_ids=ids, attention_mask=mask)}
            times = {runner: [] for runner in runners}
            for _ in range(args.repeats):  # alternate, so both see the same machine load
                for runner, call in runners.items():
                    t0 = time.perf_counter()
                    call()
                    times[runner].append(time.perf_counter() - t0)
            med = {k: statistics.median(v) for k, v in times.items()}
            print(f"{name:18s} tokens {sum(lengths):5d}  fastenc p50 {med['fastenc'] * 1e3:8.1f} ms  hf-sdpa p50 "
                  f"{med['hf-sdpa'] * 1e3:8.1f} ms  ratio hf/fastenc {med['hf-sdpa'] / med['fastenc']:.2f}x  "
                  f"max |diff| {err:.1e}")
            print("   raw s: fastenc", [round(t, 3) for t in times["fastenc"]],
                  "hf-sdpa", [round(t, 3) for t in times["hf-sdpa"]])


if __name__ == "__main__":
    main()
