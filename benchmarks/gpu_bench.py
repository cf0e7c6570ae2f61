"""The GPU model benchmark of issue 13: four cases, runners timed side by side in one process, records to a JSON file.

    python benchmarks/gpu_bench.py --out models.json [--dry-run]

Cases (bf16, random weights of the named shape): roberta-large on 64 texts of lengths uniform in 16-512 ("mixed"),
bert-large on 256 texts of 128-384 tokens ("squad"), roberta-large 64 x 512 fixed (MFU) and roberta-large 1 x 128
with fastenc's CUDA graphs (latency). Runners: fastenc, transformers eager, transformers sdpa and torch.compile of the
sdpa model. Each case checks every runner's output against transformers in fp32 on the same device first, then times
the runners interleaved (one call of each per round, CUDA events, device idle before each call). torch.compile runs in
a second pass over the cases that time it, interleaved with fastenc again (fastenc's `speedup_vs_compile` comes from
those rounds): its minute of compilation per shape must not cost a later case when the phase's time runs out.
fastenc takes its inputs on the CPU, as its tokenizer leaves them (the copy to the GPU is inside its time); the others
on the GPU.
`--dry-run` runs the same code on the CPU with tiny shapes and counts: a plumbing check, not a measurement.
`--tuned-table-out FILE` dumps the kernels' autotuning winners (benchmarks/gpu_autotune_table.py joins such dumps).
"""
import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from harness import PRESETS, device_name, make_batch, mixed_lengths, model_flops

RUNNERS = ("fastenc", "eager", "sdpa", "compile")
# Shapes the dry run uses in place of the real ones (same families, same code paths).
TINY = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, vocab_size=1000)


@dataclass
class Case:
    name: str
    model: str  # a harness.PRESETS name
    lengths: list  # real length of each text
    runners: tuple
    cuda_graphs: bool = False  # fastenc replays CUDA graphs (small batches)


def cases(dry_run: bool) -> list:
    """The issue's four cases, most wanted first (a phase cut short keeps the earlier ones); the dry run scales counts
    by 1/16 and lengths by 1/8. torch.compile runs where the issue sets it a target or MFU matters (mixed, 64x512):
    each further shape is another compilation of about a minute (--compile-all adds it to the other two)."""
    n, t = (16, 8) if dry_run else (1, 1)
    return [
        Case("roberta-large mixed 64x16-512", "roberta-large", mixed_lengths(64 // n, 16 // t, 512 // t), RUNNERS),
        Case("roberta-large 64x512", "roberta-large", [512 // t] * (64 // n), RUNNERS),
        Case("roberta-large 1x128 cuda-graphs", "roberta-large", [128 // t], RUNNERS[:3], cuda_graphs=True),
        Case("bert-large squad 256x128-384", "bert-large", mixed_lengths(256 // n, 128 // t, 384 // t, seed=1),
             RUNNERS[:3]),
    ]


def build_models(name: str, dry_run: bool, workdir: Path):
    """(transformers model in fp32 on the CPU, folder fastenc loads) of random weights in the shape `name`."""
    import transformers

    family, shape = PRESETS[name]
    if dry_run:
        shape = {**shape, **TINY}
    config_class = {"bert": transformers.BertConfig, "roberta": transformers.RobertaConfig}[family]
    extra = {"pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2} if family == "roberta" else {}
    torch.manual_seed(0)
    hf = transformers.AutoModel.from_config(config_class(**shape, **extra)).eval()
    folder = workdir / name
    hf.save_pretrained(folder)
    return hf, folder


def hf_runner(hf_fp32, impl: str, device, dtype):
    import copy

    model = copy.deepcopy(hf_fp32).to(device=device, dtype=dtype).eval()
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation(impl)
    else:
        model.config._attn_implementation = impl
    return model


def make_runners(case: Case, hf_fp32, folder, device, dtype, compile_backend: str) -> dict:
    """name -> callable(ids, mask) returning the last hidden state; fastenc gets CPU inputs, the others device ones."""
    import fastenc

    runners = {}
    if "fastenc" in case.runners:
        model = fastenc.load(folder, device=device, dtype=dtype)
        if case.cuda_graphs and device.type == "cuda":
            model.enable_cuda_graphs()
        runners["fastenc"] = lambda ids, mask, m=model: m(ids, attention_mask=mask, run_head=False).last_hidden_state
    hf = {impl: hf_runner(hf_fp32, impl, device, dtype) for impl in ("eager", "sdpa") if impl in case.runners
          or (impl == "sdpa" and "compile" in case.runners)}
    for impl, model in hf.items():
        if impl in case.runners:
            runners[impl] = _hf_call(model, device)
    if "compile" in case.runners:
        runners["compile"] = _hf_call(torch.compile(hf["sdpa"], backend=compile_backend, dynamic=False), device)
    return runners


def _hf_call(model, device):
    """transformers' runner: its inputs go to the GPU on the first call with them, then stay there, so the timed calls
    hold no (blocking, pageable) copy."""
    moved = {}

    def call(ids, mask):
        key = (id(ids), id(mask))
        if key not in moved:
            moved.clear()
            moved[key] = (ids, mask, ids.to(device), mask.to(device))  # the host tensors too: their ids stay theirs
        return model(input_ids=moved[key][2], attention_mask=moved[key][3]).last_hidden_state

    return call


def per_token_errors(out, ref, keep) -> tuple:
    """(max |out - ref|, min per-token cosine) over real tokens, in float32."""
    out, ref = out.float()[keep], ref.float()[keep]  # (N, H)
    cos = torch.nn.functional.cosine_similarity(out, ref, dim=-1)
    return (out - ref).abs().max().item(), cos.min().item()


def timed(fn, device) -> float:
    """Milliseconds of one call, from an idle device to its last kernel (CUDA events) or by the host clock."""
    if device.type != "cuda":
        start = time.perf_counter()
        fn()
        return (time.perf_counter() - start) * 1e3
    torch.cuda.synchronize(device)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end)


def peak_memory_mb(fn, device):
    """Memory one call allocates beyond what was resident before it (weights excluded), in MiB; None on the CPU."""
    if device.type != "cuda":
        return None
    torch.cuda.synchronize(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    torch.cuda.synchronize(device)
    return (torch.cuda.max_memory_allocated(device) - before) / 2**20


def run_case(case: Case, hf_fp32, folder, device, dtype, peak_flops: float, args) -> list:
    cfg = hf_fp32.config
    ids, mask = make_batch(case.lengths, cfg.vocab_size, cfg.pad_token_id)
    keep = mask.bool().to(device)
    reference = hf_runner(hf_fp32, "sdpa", device, torch.float32)
    with torch.inference_mode():
        ref = _hf_call(reference, device)(ids, mask)
    del reference
    runners = make_runners(case, hf_fp32, folder, device, dtype, args.compile_backend)
    records, times = {}, {name: [] for name in runners}
    flops = model_flops(case.lengths, cfg.num_hidden_layers, cfg.hidden_size, cfg.intermediate_size)
    with torch.inference_mode():
        for name, fn in runners.items():
            start = time.perf_counter()
            out = fn(ids, mask)  # the first call: compilation, autotuning, graph capture
            first_s = time.perf_counter() - start
            for _ in range(args.warmup):
                out = fn(ids, mask)
            err, cos = per_token_errors(out, ref, keep)
            records[name] = dict(first_call_s=first_s, max_abs_err_vs_fp32=err, min_token_cosine_vs_fp32=cos,
                                 peak_mem_mb=peak_memory_mb(lambda: fn(ids, mask), device))
        repeats = args.repeats * (5 if len(case.lengths) == 1 else 1)  # latency cases are short: more rounds
        for _ in range(repeats):  # interleaved: every runner sees the same clocks and thermals
            for name, fn in runners.items():
                times[name].append(timed(lambda: fn(ids, mask), device))
    out = []
    for name in runners:
        t = sorted(times[name])
        median = statistics.median(t)
        p90 = t[min(len(t) - 1, int(0.9 * len(t)))]
        out.append(dict(
            case=case.name, runner=name, model=case.model, dtype=str(dtype).removeprefix("torch."),
            batch=len(case.lengths), max_len=max(case.lengths), real_tokens=sum(case.lengths),
            padded_tokens=len(case.lengths) * max(case.lengths), cuda_graphs=case.cuda_graphs and name == "fastenc",
            median_ms=median, p90_ms=p90, repeats=len(t), sequences_per_s=len(case.lengths) / (median / 1e3),
            tokens_per_s=sum(case.lengths) / (median / 1e3), tflops=flops / (median / 1e3) / 1e12,
            mfu=flops / (median / 1e3) / peak_flops, **records[name],
        ))
    sdpa = next((r for r in out if r["runner"] == "sdpa"), None)
    eager = next((r for r in out if r["runner"] == "eager"), None)
    for r in out:
        r["speedup_vs_sdpa"] = sdpa["median_ms"] / r["median_ms"] if sdpa else None
        r["speedup_vs_eager"] = eager["median_ms"] / r["median_ms"] if eager else None
    return out


def passes(todo: list) -> list:
    """[(case, compiled pass?)] in running order: every case without torch.compile first, then the cases that time it,
    with fastenc again beside it. Each compiled shape costs about a minute of compilation: a budget cut short then
    loses compiled rows, never a case's fastenc, eager and sdpa rows."""
    first = [(replace(c, runners=tuple(r for r in c.runners if r != "compile")), False) for c in todo]
    return first + [(replace(c, runners=("fastenc", "compile")), True) for c in todo if "compile" in c.runners]


def add_compiled(records: list, rows: list) -> list:
    """The compiled pass's rows -> its compile row, with ratios to the first pass's sdpa and eager rows; fastenc's
    first-pass row gains `speedup_vs_compile` from the two timed in the same rounds of this pass."""
    fastenc = next(r for r in rows if r["runner"] == "fastenc")
    compiled = next(r for r in rows if r["runner"] == "compile")
    first = {r["runner"]: r for r in records if r["case"] == compiled["case"]}
    for name in ("sdpa", "eager"):
        compiled[f"speedup_vs_{name}"] = first[name]["median_ms"] / compiled["median_ms"] if name in first else None
    compiled["fastenc_median_ms_same_rounds"] = fastenc["median_ms"]
    if "fastenc" in first:
        first["fastenc"]["speedup_vs_compile"] = compiled["median_ms"] / fastenc["median_ms"]
    return [compiled]


def measure_matmul_peak(device, dtype) -> float:
    """FLOP/s of one large matrix product at `dtype`, measured now (the MFU yardstick)."""
    n = 8192 if device.type == "cuda" else 512
    a, b = (torch.randn(n, n, device=device).to(dtype) for _ in range(2))
    if device.type == "cuda":
        import triton.testing

        ms = triton.testing.do_bench(lambda: a @ b, warmup=100, rep=500, return_mode="median")
    else:
        a @ b
        ms = statistics.median(timed(lambda: a @ b, device) for _ in range(5))
    return 2 * n**3 / (ms / 1e3)


def write_winners(path) -> None:
    """The autotuner caches live in this process only: dump them after every case, so a cut phase keeps its part."""
    if path is not None:
        from fastenc.kernels import tuned

        tuned.write_table(path)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="JSON file to write (rewritten after every case)")
    p.add_argument("--dry-run", action="store_true", help="CPU, tiny shapes and counts: proves the plumbing only")
    p.add_argument("--dtype", choices=["bf16", "fp16"], default="bf16")
    p.add_argument("--repeats", type=int, default=None, help="timed rounds per case (default 20; dry run 2)")
    p.add_argument("--warmup", type=int, default=None, help="untimed calls per runner after the first (default 3)")
    p.add_argument("--cases", nargs="*", help="substrings of the case names to run (default: all)")
    p.add_argument("--compile-all", action="store_true", help="time torch.compile on every case")
    p.add_argument("--tuned-table-out", type=Path, help="also write this process's autotuning winners there "
                   "(fastenc.kernels.tuned.write_table; run with FASTENC_TUNED_TABLE=0 so they are searched)")
    args = p.parse_args(argv)
    args.repeats = args.repeats or (2 if args.dry_run else 20)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.dry_run else 3)
    # The dry run takes torch.compile's eager backend: the same wrapping, without minutes of C++ compilation.
    args.compile_backend = "eager" if args.dry_run else "inductor"
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    device = torch.device("cpu" if args.dry_run else "cuda")
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu_bench: no CUDA device here (use --dry-run for the CPU plumbing check)", file=sys.stderr)
        return 2
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[args.dtype]
    peak = measure_matmul_peak(device, dtype)
    report = dict(device=device_name(device), dry_run=args.dry_run, matmul_peak_tflops=peak / 1e12,
                  compile_backend=args.compile_backend, records=[], failed_cases={})
    print(f"{args.dtype} matrix-product peak on {report['device']}: {peak / 1e12:.1f} TFLOP/s", flush=True)
    todo = [c for c in cases(args.dry_run) if not args.cases or any(s in c.name for s in args.cases)]
    if args.compile_all:
        for c in todo:
            c.runners = RUNNERS
    if args.dry_run:
        for case in todo:
            case.name += f" [dry-run {len(case.lengths)}x{min(case.lengths)}-{max(case.lengths)}, tiny weights]"
    with tempfile.TemporaryDirectory() as tmp:
        built = {}
        for case, compiled_pass in passes(todo):
            if case.model not in built:
                built.clear()  # one model's copies resident at a time
                built[case.model] = build_models(case.model, args.dry_run, Path(tmp))
            label = f"{case.name} (torch.compile)" if compiled_pass else case.name
            try:
                rows = run_case(case, *built[case.model], device, dtype, peak, args)
            except Exception as e:  # one failing case must not cost the others' numbers
                report["failed_cases"][label] = f"{type(e).__name__}: {e}"
                print(f"FAILED {label}: {type(e).__name__}: {e}", flush=True)
                continue
            finally:
                gc.collect()  # the runners of this case (torch.compile keeps reference cycles)
                if device.type == "cuda":
                    torch.cuda.empty_cache()
            if compiled_pass:
                rows = add_compiled(report["records"], rows)
            report["records"] += rows
            for r in rows:
                print(f"{r['case']:<40} {r['runner']:<8} median {r['median_ms']:9.3f} ms  p90 {r['p90_ms']:9.3f}  "
                      f"{r['sequences_per_s']:9.1f} seq/s  MFU {r['mfu']:6.1%}  "
                      f"cos {r['min_token_cosine_vs_fp32']:.5f}",
                      flush=True)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(report, indent=1) + "\n")
            write_winners(args.tuned_table_out)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    write_winners(args.tuned_table_out)
    return 1 if report["failed_cases"] else 0


if __name__ == "__main__":
    sys.exit(main())
