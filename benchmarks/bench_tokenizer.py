"""Tokenizer throughput and its scaling with threads: fastenc beside HF `tokenizers` (Tokenizer.encode_batch) and
the transformers fast tokenizer.

Every engine does the same job: the shared corpus (../shared/data/corpus, 21k lines, six languages) in batches of
--batch-sizes lines (0: the whole corpus as one batch), returned either as padded int64 NumPy arrays (input_ids,
attention_mask, token_type_ids; fastenc's __call__) or packed without padding (input_ids, token_type_ids (N,) and
cu_seqlens; fastenc's encode_packed, or encode_batch's lists concatenated with NumPy). Each engine's ids are checked
against fastenc's before timing. One warm-up pass, then the median of --repeats timed passes.

Each thread count runs in its own child process with FASTENC_NUM_THREADS and RAYON_NUM_THREADS set to it
(TOKENIZERS_PARALLELISM=false for one thread); "all" means the defaults (every core). The table gives MB/s (UTF-8
input) and tokens/s (real tokens, no padding) per thread count, the scaling (all threads / one thread) and the speed
beside encode_batch doing the same job. Padded outputs of the whole corpus as one batch are not made by the
Python-list engines (tokenizers, transformers): they would take minutes and gigabytes of Python ints.

Writes the table and the raw JSON to benchmarks/results/tokenizer-<host>-<date>.{txt,json}.

Run:  .venv/bin/python benchmarks/bench_tokenizer.py [--repeats 5] [--batch-sizes 256,0] [--threads 1,all]
Quick check:  .venv/bin/python benchmarks/bench_tokenizer.py --repeats 1 --sample 20 --out /tmp/tok.json
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
VOCABS = {
    "bert-base-uncased (WordPiece)": ({"vocab.txt": "bert-base-uncased.vocab.txt"},
                                      dict(do_lower_case=True, tokenizer_class="BertTokenizer",
                                           model_max_length=512)),
    "bert-base-multilingual-cased (WordPiece)": ({"vocab.txt": "bert-base-multilingual-cased.vocab.txt"},
                                                 dict(do_lower_case=False, tokenizer_class="BertTokenizer",
                                                      model_max_length=512)),
    "roberta-base (byte-level BPE)": ({"vocab.json": "roberta-base.vocab.json",
                                       "merges.txt": "roberta-base.merges.txt"},
                                      dict(tokenizer_class="RobertaTokenizer", model_max_length=512)),
}
BASELINE = {"padded": "tokenizers encode_batch, padded", "packed": "tokenizers encode_batch, packed"}


def corpus_lines(sample: int):
    lines = []
    for path in sorted((SHARED / "corpus").glob("*.txt")):
        lines += [line for line in path.read_text(encoding="utf-8").split("\n") if line]
    return lines[::sample]


def make_folder(files, config, root):
    folder = Path(tempfile.mkdtemp(dir=root))
    for hub_name, shared_name in files.items():
        shutil.copy(SHARED / "vocab" / shared_name, folder / hub_name)
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


def engines(folder):
    """name -> (layout, function(batch) -> (input_ids, real token count)); equal ids within a layout."""
    from transformers import AutoTokenizer

    from fastenc.tokenizer import Tokenizer

    ours = Tokenizer.from_pretrained(folder)
    reference = AutoTokenizer.from_pretrained(str(folder))
    # Copies of transformers' backend: its __call__ sets padding and truncation on the backend it holds.
    serialized = reference.backend_tokenizer.to_str()
    library = type(reference.backend_tokenizer).from_str(serialized)
    library.no_truncation()
    library.no_padding()
    padding_library = type(reference.backend_tokenizer).from_str(serialized)
    padding_library.no_truncation()
    padding_library.enable_padding(pad_id=reference.pad_token_id, pad_token=reference.pad_token)

    def fastenc_padded(batch):
        out = ours(batch, padding=True, return_tensors="np", return_token_type_ids=True)
        return out["input_ids"], out["attention_mask"].sum()

    def fastenc_packed(batch):
        out = ours.encode_packed(batch)
        return out["input_ids"], out["cu_seqlens"][-1]

    def library_padded(batch):
        encodings = padding_library.encode_batch(batch)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        np.array([e.type_ids for e in encodings], dtype=np.int64)
        return ids, mask.sum()

    def library_packed(batch):
        encodings = library.encode_batch(batch)
        ids = np.concatenate([np.asarray(e.ids, dtype=np.int64) for e in encodings])
        np.concatenate([np.asarray(e.type_ids, dtype=np.int64) for e in encodings])
        cu_seqlens = np.zeros(len(encodings) + 1, dtype=np.int64)
        np.cumsum([len(e.ids) for e in encodings], out=cu_seqlens[1:])
        return ids, cu_seqlens[-1]

    def transformers_padded(batch):
        out = reference(batch, padding=True, return_tensors="np", return_token_type_ids=True)
        return out["input_ids"], out["attention_mask"].sum()

    return {"fastenc __call__, padded": ("padded", fastenc_padded),
            "fastenc encode_packed": ("packed", fastenc_packed),
            BASELINE["padded"]: ("padded", library_padded),
            BASELINE["packed"]: ("packed", library_packed),
            "transformers fast __call__, padded": ("padded", transformers_padded)}


def measure(threads, repeats, batch_sizes, sample):
    lines = corpus_lines(sample)
    megabytes = sum(len(line.encode("utf-8")) for line in lines) / 1e6
    results = []
    with tempfile.TemporaryDirectory() as root:
        for vocab, (files, config) in VOCABS.items():
            runs = engines(make_folder(files, config, root))
            for batch_size in batch_sizes:
                size = batch_size or len(lines)
                batches = [lines[i:i + size] for i in range(0, len(lines), size)]
                expected = {}
                for engine, (layout, run) in runs.items():
                    if batch_size == 0 and layout == "padded" and not engine.startswith("fastenc"):
                        continue  # see the module docstring
                    outputs = [run(b) for b in batches]  # warm-up (and the BPE word caches, for every engine)
                    tokens = int(sum(n for _, n in outputs))
                    ids = [o[0] for o in outputs]
                    if layout not in expected:
                        expected[layout] = ids
                    elif not all(np.array_equal(a, b) for a, b in zip(ids, expected[layout])):
                        raise SystemExit(f"{engine} disagrees with fastenc on {vocab}: not a fair comparison")
                    del outputs, ids
                    times = []
                    for _ in range(repeats):
                        start = time.perf_counter()
                        for b in batches:
                            run(b)
                        times.append(time.perf_counter() - start)
                    seconds = statistics.median(times)
                    results.append(dict(threads=threads, batch_size=batch_size, vocab=vocab, engine=engine,
                                        layout=layout, seconds=seconds, megabytes=megabytes,
                                        mb_per_s=megabytes / seconds, tokens=tokens, tokens_per_s=tokens / seconds,
                                        times=times))
    return results


def machine():
    cpu = "unknown"
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        cpu = next(line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        pass
    import tokenizers
    import transformers

    import fastenc

    return dict(host=socket.gethostname(), cpu=cpu, cores=os.cpu_count(), platform=platform.platform(),
                python=platform.python_version(), numpy=np.__version__, tokenizers=tokenizers.__version__,
                transformers=transformers.__version__, fastenc=fastenc.__version__,
                fastenc_threads=fastenc._C.num_threads(),
                date=datetime.datetime.now().isoformat(timespec="seconds"), command=" ".join(sys.argv))


def child_env(threads):
    env = dict(os.environ)
    for key in ("FASTENC_NUM_THREADS", "RAYON_NUM_THREADS", "TOKENIZERS_PARALLELISM"):
        env.pop(key, None)
    if threads != "all":
        env.update(FASTENC_NUM_THREADS=threads, RAYON_NUM_THREADS=threads)
        if threads == "1":
            env["TOKENIZERS_PARALLELISM"] = "false"
    return env


def table(results, thread_counts, info, args):
    lines = [f"# command: {info['command']}",
             f"# {info['cpu']}, {info['cores']} cores; tokenizers {info['tokenizers']}, transformers "
             f"{info['transformers']}, numpy {info['numpy']}; median of {args.repeats}; every {args.sample}th line; "
             f"{info['date']}"]
    first, last = thread_counts[0], thread_counts[-1]
    header = f"{'batch':>6} {'vocabulary':42} {'engine':36}"
    for t in thread_counts:
        header += f" {t + ' thr MB/s':>13} {'Mtok/s':>7}"
    header += f" {last + '/' + first:>9} {'x encode_batch':>15}"
    lines.append(header)
    key = {(r["threads"], r["batch_size"], r["vocab"], r["engine"]): r for r in results}
    for r in results:
        if r["threads"] != first:
            continue
        row = f"{r['batch_size'] or 'all':>6} {r['vocab']:42} {r['engine']:36}"
        for t in thread_counts:
            x = key[(t, r["batch_size"], r["vocab"], r["engine"])]
            row += f" {x['mb_per_s']:13.2f} {x['tokens_per_s'] / 1e6:7.3f}"
        top = key[(last, r["batch_size"], r["vocab"], r["engine"])]
        base = key.get((last, r["batch_size"], r["vocab"], BASELINE[r["layout"]]))
        versus = f"{base['seconds'] / top['seconds']:15.2f}" if base else f"{'-':>15}"
        row += f" {r['seconds'] / top['seconds']:9.2f} {versus}"
        lines.append(row)
    lines.append(f"# '{last}/{first}': speed with {last} threads over speed with {first}; 'x encode_batch': "
                 f"speed over tokenizers encode_batch doing the same job ({last} threads)")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-sizes", default="256,0", help="comma-separated; 0: the whole corpus as one batch")
    parser.add_argument("--threads", default="1,all", help="comma-separated thread counts; 'all': every core")
    parser.add_argument("--sample", type=int, default=1, help="use every n-th corpus line (quick checks)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help="JSON path (the table goes beside it as .txt)")
    args = parser.parse_args()
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    if args.child:
        print(json.dumps(measure(args.child, args.repeats, batch_sizes, args.sample)))
        return
    thread_counts = args.threads.split(",")
    results = []
    for threads in thread_counts:
        child = subprocess.run([sys.executable, __file__, "--child", threads, "--repeats", str(args.repeats),
                                "--batch-sizes", args.batch_sizes, "--sample", str(args.sample)],
                               env=child_env(threads), capture_output=True, text=True)
        if child.returncode:
            raise SystemExit(f"child with {threads} threads failed:\n{child.stderr[-3000:]}")
        results += json.loads(child.stdout.strip().splitlines()[-1])
    info = machine()
    out = args.out or REPO / "benchmarks" / "results" / (
        f"tokenizer-{info['host']}-{datetime.date.today().isoformat()}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(dict(machine=info, repeats=args.repeats, batch_sizes=batch_sizes,
                                   threads=thread_counts, sample=args.sample, results=results), indent=2))
    text = table(results, thread_counts, info, args)
    print(text)
    out.with_suffix(".txt").write_text(text + "\n")
    print(f"wrote {out} and {out.with_suffix('.txt').name}")


if __name__ == "__main__":
    main()
