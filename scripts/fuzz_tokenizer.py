"""Fuzz the C++ tokenizer against HF `tokenizers` (through transformers) on random inputs: `make fuzz`.

Every input (single or pair, one of the truncation modes, with or without max_length) is checked on every vocabulary
(WordPiece uncased, WordPiece cased multilingual, byte-level BPE) for ids, type ids, attention mask, special-tokens
mask, offsets and decode. One worker process per core, each building its own tokenizers, works through chunks of
CHUNK inputs; chunk k always holds the same inputs for a given seed, whatever the number of workers.

Fails (exit 1) on any mismatch, crash (a worker that dies, e.g. a segfault, is noticed by its exit code, not waited
for; a worker silent for --hang-seconds is killed) or input our tokenizer takes more than a second on (batches over a
second are re-timed one input at a time). The minimal reproducing input is printed as a Python literal and written
to --failures, ready to paste into tests/tokenizer/test_fuzz_regressions.py.

    .venv/bin/python scripts/fuzz_tokenizer.py --count 1000000 --seed 20261123
"""
import argparse
import json
import multiprocessing as mp
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "tokenizer"))
import fuzz_inputs  # noqa: E402
from fuzz_inputs import Batch  # noqa: E402

DEFAULT_SEED = 20261123
VOCAB_NAMES = ("bert-base-uncased", "bert-base-multilingual-cased", "roberta-base")
CHUNK = 1000
SLOW_SECONDS = 1.0
MAX_SHRINK_CALLS = 3000
LOG = []  # every line printed, for --record


def say(line):
    print(line, flush=True)
    LOG.append(line)


def machine_header(argv):
    """Command, date, CPU, load, versions and commit: what a committed record of a run must say."""
    import platform

    import tokenizers
    import transformers

    def run_text(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT).stdout.strip()
        except OSError:
            return "?"
    cpu = next((line.split(":", 1)[1].strip() for line in run_text(["lscpu"]).splitlines()
                if line.startswith("Model name")), platform.processor())
    dirty = " (plus uncommitted changes)" if run_text(["git", "status", "--porcelain", "--untracked-files=no"]) else ""
    return [f"command: {' '.join(argv)}",
            f"date: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}",
            f"cpu: {cpu}, {os.cpu_count()} cores; load average at start {os.getloadavg()[0]:.1f}; "
            f"niceness {os.nice(0)}",
            "note: wall time and inputs/s depend on the machine's load; they record this run, they are no benchmark",
            f"versions: python {platform.python_version()}, tokenizers {tokenizers.__version__}, "
            f"transformers {transformers.__version__}",
            f"fastenc commit: {run_text(['git', 'rev-parse', 'HEAD'])}{dirty}"]


def load_pair(name, reference=True):
    """(ours, reference or None) built from the shared vocabulary files, as the tests build them."""
    import transformers
    from tokenizer_helpers import VOCAB_DIR, VOCABS

    from fastenc.tokenizer import Tokenizer

    transformers.logging.set_verbosity_error()
    files, config = VOCABS[name]
    folder = Path(tempfile.mkdtemp(prefix=f"fuzz-{name}-"))
    for hub_name, shared_name in files.items():
        shutil.copy(VOCAB_DIR / shared_name, folder / hub_name)
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    pair = (Tokenizer.from_pretrained(folder),
            transformers.AutoTokenizer.from_pretrained(str(folder)) if reference else None)
    shutil.rmtree(folder)
    return pair


def chunk_batches(seed, chunk, count):
    """The batches of chunk `chunk`: CHUNK inputs (fewer in the last chunk), from its own seeded generator."""
    rng = fuzz_inputs.random.Random(seed * 1_000_003 + chunk)
    left = min(CHUNK, count - chunk * CHUNK)
    while left > 0:
        batch = fuzz_inputs.random_batch(rng)
        if len(batch.texts) > left:
            batch.texts = batch.texts[:left]
            batch.pairs = batch.pairs[:left] if batch.pairs else None
        left -= len(batch.texts)
        yield batch


def item(batch, i):
    """One input of a batch, as a plain dict (a Python literal when printed)."""
    return dict(text=batch.texts[i], pair=batch.pairs[i] if batch.pairs else None, kwargs=batch.kwargs,
                single_calls=batch.single_calls, threads=batch.threads)


def as_batch(case):
    return Batch([case["text"]], [case["pair"]] if case["pair"] is not None else None, dict(case["kwargs"]),
                 case.get("single_calls", True), case.get("threads", 1))


def time_ours(ours, case, repeats=2):
    batch = as_batch(case)
    ours.num_threads = batch.threads or None
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        try:
            ours(batch.texts, batch.pairs, **batch.kwargs)
        except ValueError:
            pass
        best = min(best, time.perf_counter() - start)
    return best


def worker(index, seed, count, vocabs, tasks, results, breadcrumb):
    pairs = {name: load_pair(name) for name in vocabs}
    results.put(("ready", index, None))
    while True:
        chunk = tasks.get()
        if chunk is None:
            results.put(("done", index, None))
            return
        failures, inputs = [], 0
        for batch in chunk_batches(seed, chunk, count):
            inputs += len(batch.texts)
            for name in vocabs:
                ours, ref = pairs[name]
                # Written before our tokenizer runs, so a crash or hang leaves the batch that caused it behind.
                Path(breadcrumb).write_text(repr(dict(vocab=name, batch=batch.__dict__)))
                found, seconds = fuzz_inputs.compare(ours, ref, batch)
                failures += [dict(vocab=name, kind="mismatch", what=what, **dict(item(batch, i), single_calls=single))
                             for i, what, single in found]
                if seconds > SLOW_SECONDS:  # re-time each input alone before calling any of them slow
                    for i in range(len(batch.texts)):
                        took = time_ours(ours, item(batch, i))
                        if took > SLOW_SECONDS:
                            failures.append(dict(vocab=name, kind="slow", what=f"{took:.2f} s", **item(batch, i)))
        results.put(("chunk", index, (chunk, inputs, failures)))


def run(args):
    chunks = (args.count + CHUNK - 1) // CHUNK
    # One worker per core already: the reference's rayon pool would only oversubscribe the cores.
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    ctx = mp.get_context("spawn")
    tasks, results = ctx.Queue(), ctx.Queue()
    for chunk in range(chunks):
        tasks.put(chunk)
    crumbs = Path(tempfile.mkdtemp(prefix="fuzz-crumbs-"))
    procs = []
    for index in range(args.workers):
        tasks.put(None)
        crumb = crumbs / f"worker-{index}.txt"
        crumb.write_text("")
        p = ctx.Process(target=worker, args=(index, args.seed, args.count, args.vocabs, tasks, results, str(crumb)),
                        daemon=True)
        p.start()
        procs.append((p, crumb))

    failures, inputs, done_chunks, done_workers, crashes = [], 0, 0, set(), []
    start = time.perf_counter()
    last_report = start
    while len(done_workers) + len(crashes) < len(procs):
        try:
            kind, index, payload = results.get(timeout=2)
        except queue.Empty:
            kind = None
        if kind == "ready" and index == 0:
            start = time.perf_counter()  # the clock starts once tokenizers are built
        elif kind == "done":
            done_workers.add(index)
        elif kind == "chunk":
            _, n, found = payload
            inputs += n
            done_chunks += 1
            failures += found
        for index, (p, crumb) in enumerate(procs):
            if index in done_workers or any(c["worker"] == index for c in crashes):
                continue
            dead = p.exitcode is not None and p.exitcode != 0
            hung = p.is_alive() and crumb.stat().st_size and time.time() - crumb.stat().st_mtime > args.hang_seconds
            if dead or hung:
                if hung:
                    p.kill()
                    p.join()
                crashes.append(dict(worker=index, exitcode=p.exitcode, hung=hung, crumb=crumb.read_text()))
        if time.perf_counter() - last_report > 30:
            last_report = time.perf_counter()
            rate = inputs / max(last_report - start, 1e-9)
            say(f"  {inputs:>9,} inputs, {done_chunks}/{chunks} chunks, {rate:,.0f} inputs/s, "
                f"{len(failures)} failures")
        if crashes:
            for p, _ in procs:
                p.kill()
            break
    wall = time.perf_counter() - start
    for p, _ in procs:
        p.join(timeout=10)
    shutil.rmtree(crumbs, ignore_errors=True)
    return inputs, wall, failures, crashes


def shrink_text(s, still_fails):
    """Delta debugging over the characters of s: drop ever smaller chunks while the failure persists."""
    calls, n = 0, 2
    while s and calls < MAX_SHRINK_CALLS:
        size = max(1, len(s) // n)
        for begin in range(0, len(s), size):
            candidate = s[:begin] + s[begin + size:]
            calls += 1
            if still_fails(candidate):
                s, n = candidate, max(n - 1, 2)
                break
        else:
            if size == 1:
                break
            n = min(len(s), n * 2)
    return s


def minimize(case, pairs):
    """The smallest input we find that still fails the same way (same output key, raise, decode or slowness)."""
    ours, ref = pairs[case["vocab"]]
    label = case["what"].split(":")[0].split("(")[0]

    def fails(c):
        if case["kind"] == "slow":
            return time_ours(ours, c, repeats=1) > SLOW_SECONDS
        found, _ = fuzz_inputs.compare(ours, ref, as_batch(c))
        return any(what.split(":")[0].split("(")[0] == label for _, what, _ in found)

    if not fails(case):  # only fails inside its batch: report it as found
        return dict(case, note="does not fail alone; the batch it came from is the reproducer")
    case = dict(case)
    for key, value in (("pair", None), ("single_calls", True), ("threads", 1)):
        if case[key] != value and fails(dict(case, **{key: value})):
            case[key] = value
    for key in list(case["kwargs"]):
        if key not in ("return_offsets_mapping", "return_special_tokens_mask"):
            kwargs = {k: v for k, v in case["kwargs"].items() if k != key}
            if fails(dict(case, kwargs=kwargs)):
                case["kwargs"] = kwargs
    case["text"] = shrink_text(case["text"], lambda t: fails(dict(case, text=t)))
    if case["pair"] is not None:
        case["pair"] = shrink_text(case["pair"], lambda t: fails(dict(case, pair=t)))
    found, _ = fuzz_inputs.compare(ours, ref, as_batch(case))
    case["what"] = found[0][1] if found else case["what"]
    return case


def replay_crash(crumb):
    """Finds the input that kills our tokenizer, running each candidate in a fresh interpreter."""
    data = eval(crumb)  # noqa: S307 - our own repr() of plain strings, lists and dicts
    vocab, batch = data["vocab"], data["batch"]
    code = ("import sys; sys.path.insert(0, {root!r}); sys.path.insert(0, {tests!r}); import fuzz_tokenizer as f; "
            "ours = f.load_pair({vocab!r}, reference=False)[0]; b = f.Batch(**{batch!r})\n"
            "ours.num_threads = b.threads or None\n"
            "try:\n    ours(b.texts, b.pairs, **b.kwargs)\nexcept ValueError:\n    pass")

    def crashes(b):
        source = code.format(root=str(ROOT / "scripts"), tests=str(ROOT / "tests" / "tokenizer"), vocab=vocab,
                             batch=b)
        return subprocess.run([sys.executable, "-c", source], capture_output=True).returncode != 0

    for i in range(len(batch["texts"])):
        one = dict(batch, texts=batch["texts"][i:i + 1], pairs=batch["pairs"][i:i + 1] if batch["pairs"] else None)
        if crashes(one):
            if one["pairs"] and crashes(dict(one, pairs=None)):
                one["pairs"] = None
            one["texts"] = [shrink_text(one["texts"][0], lambda t: crashes(dict(one, texts=[t])))]
            if one["pairs"]:
                one["pairs"] = [shrink_text(one["pairs"][0], lambda t: crashes(dict(one, pairs=[t])))]
            return dict(vocab=vocab, kind="crash", text=one["texts"][0], pair=one["pairs"][0] if one["pairs"] else None,
                        kwargs=one["kwargs"], single_calls=False, threads=one["threads"])
    return dict(vocab=vocab, kind="crash", note="no single input crashes alone; the whole batch does", batch=batch)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=1_000_000, help="random inputs (each on every vocabulary)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--vocabs", nargs="+", default=list(VOCAB_NAMES), choices=VOCAB_NAMES)
    parser.add_argument("--hang-seconds", type=float, default=300.0)
    parser.add_argument("--failures", default=str(ROOT / "build" / "fuzz-failures.txt"))
    parser.add_argument("--minimize", type=int, default=5, help="failures to minimize (the rest are listed as found)")
    parser.add_argument("--record", help="also write everything printed, after a header (command, CPU, versions, "
                        "commit), to this file")
    args = parser.parse_args(argv)
    python = os.path.relpath(sys.executable, ROOT) if sys.executable.startswith(str(ROOT)) else sys.executable
    header = machine_header([python, "scripts/fuzz_tokenizer.py"] + (sys.argv[1:] if argv is None else argv))
    for line in header:
        say(line)
    say(f"fuzz: {args.count:,} inputs x {len(args.vocabs)} vocabularies ({', '.join(args.vocabs)}), "
        f"seed {args.seed}, {args.workers} workers")
    inputs, wall, failures, crashes = run(args)
    rate = inputs / wall if wall > 0 else 0.0
    kinds = {k: sum(f["kind"] == k for f in failures) for k in ("mismatch", "slow")}
    say(f"fuzz: {inputs:,} inputs ({inputs * len(args.vocabs):,} comparisons) in {wall:.1f} s wall = "
        f"{rate:,.0f} inputs/s; mismatches {kinds['mismatch']}, crashes {len(crashes)}, slow {kinds['slow']}; "
        f"load average at end {os.getloadavg()[0]:.1f}")
    status = finish(args, inputs, failures, crashes)
    if args.record:
        Path(args.record).write_text("\n".join(LOG) + "\n")
    return status


def finish(args, inputs, failures, crashes):
    if inputs < args.count and not crashes:
        say(f"fuzz: only {inputs:,} of {args.count:,} inputs were checked")
        return 1
    if not failures and not crashes:
        return 0
    reports = [replay_crash(c["crumb"]) if c["crumb"] else dict(kind="crash", note=f"worker {c['worker']} died "
               f"(exit code {c['exitcode']}) before its first batch") for c in crashes]
    if failures:
        pairs = {name: load_pair(name) for name in {f["vocab"] for f in failures[:args.minimize]}}
        reports += [minimize(f, pairs) for f in failures[:args.minimize]] + failures[args.minimize:]
    out = Path(args.failures)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(repr(r) + "\n" for r in reports))
    say(f"fuzz: FAILED; minimal reproducers (also in {out}):")
    for r in reports[:args.minimize + len(crashes)]:
        say("  " + repr(r))
    return 1


if __name__ == "__main__":
    sys.exit(main())
