"""Interleaved A/B on the CPU of the reference `rope_qkv`: the blocked version (Q and K rotated together, no
concatenation) beside the formula it replaced (four multiplies, a subtract, an add and a cat per Q and per K, kept
here only as the baseline), alone on GTE-base-shaped tensors and inside a whole GTE-base forward (random weights,
harness preset "gte-base", backend "torch"). Both must give bit-identical outputs; the script checks that first.

    .venv/bin/python benchmarks/bench_rope_qkv.py [--repeats 3]
"""
import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import PRESETS, make_batch, mixed_lengths  # noqa: E402


def previous_rope_qkv(qkv, cos, sin):
    """The reference rope_qkv before the blocked version (commit 2e66395), the baseline of this A/B."""
    q, k, v = qkv.unbind(-3)
    c, s = cos.unsqueeze(-2), sin.unsqueeze(-2)

    def rotate(x):
        x1, x2 = x.float().chunk(2, dim=-1)
        return torch.cat((x1 * c - x2 * s, x2 * c + x1 * s), dim=-1).to(x.dtype)

    return rotate(q), rotate(k), v


def timed(fn, repeats: int) -> tuple:
    """(wall s, CPU s) of the fastest of `repeats` calls."""
    best = (float("inf"), float("inf"))
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        fn()
        best = min(best, (time.perf_counter() - w, time.process_time() - c))
    return best


def main() -> None:
    import fastenc
    import transformers
    from fastenc.ops import reference

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    fns = {"previous": previous_rope_qkv, "blocked": reference.rope_qkv}
    for dtype in (torch.float32, torch.bfloat16):
        for lead in ((4096,), (8, 512), (64,)):
            qkv = torch.randn(*lead, 3, 12, 64).to(dtype)  # GTE-base: 12 heads of 64
            angles = torch.randn(*lead, 32) * 100
            cos, sin = angles.cos(), angles.sin()
            ref, got = (fn(qkv, cos, sin) for fn in fns.values())
            assert all(torch.equal(a, b) for a, b in zip(ref, got, strict=True))
            times = {name: [] for name in fns}
            for _ in range(5 * args.repeats):  # interleaved: both see the same load
                for name, fn in fns.items():
                    times[name].append(timed(lambda: fn(qkv, cos, sin), 3))
            (pw, pc), (bw, bc) = (min(times[name]) for name in fns)
            print(f"rope_qkv {str(dtype):15} lead {str(lead):9}: previous {pw * 1e3:7.2f} ms wall "
                  f"{pc * 1e3:7.2f} ms CPU | blocked {bw * 1e3:7.2f} ms wall {bc * 1e3:7.2f} ms CPU | previous/blocked wall {pw / bw:.2f}"
                  f" CPU {pc / bc:.2f}")

    _, shape = PRESETS["gte-base"]
    torch.manual_seed(0)
    folder = tempfile.mkdtemp()
    transformers.AutoModel.from_config(transformers.GteConfig(**shape)).save_pretrained(folder)
    engine = fastenc.load(folder)
    model = engine.model
    blocked_ops = model.ops
    lengths = mixed_lengths(16, 16, 512)
    ids, mask = make_batch(lengths, engine.config.vocab_size, engine.config.pad_token_id)
    outs, times = {}, {"previous": [], "blocked": []}
    for _ in range(args.repeats):
        for name in times:
            model.ops = blocked_ops if name == "blocked" else dataclasses.replace(blocked_ops,
                                                                                  rope_qkv=previous_rope_qkv)
            start_w, start_c = time.perf_counter(), time.process_time()
            outs[name] = engine(ids, attention_mask=mask).last_hidden_state
            times[name].append((time.perf_counter() - start_w, time.process_time() - start_c))
    model.ops = blocked_ops
    assert torch.equal(outs["previous"], outs["blocked"])
    (pw, pc), (bw, bc) = (min(times[name]) for name in times)
    print(f"gte-base forward, 16 sequences of 16-512 tokens ({sum(lengths)} tokens), fp32, best of {args.repeats}: "
          f"previous {pw:.2f} s wall {pc:.2f} s CPU | blocked {bw:.2f} s wall {bc:.2f} s CPU | previous/blocked wall "
          f"{pw / bw:.2f} CPU {pc / bc:.2f}; outputs bit-identical")


if __name__ == "__main__":
    main()
