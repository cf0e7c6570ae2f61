"""Tokenizer throughput: fastenc beside HF `tokenizers` (Tokenizer.encode_batch) and the transformers fast tokenizer.

Every engine does the same job: the whole shared corpus (../shared/data/corpus, 21k lines, six languages) in batches
of --batch-size lines, each batch returned as padded int64 NumPy arrays (input_ids, attention_mask, token_type_ids).
One warm-up pass, then the median of --repeats timed passes. Single-thread numbers come from a child process with
FASTENC_NUM_THREADS=1, RAYON_NUM_THREADS=1 and TOKENIZERS_PARALLELISM=false; all-core numbers from a child with
the defaults. Prints a table and writes JSON to benchmarks/results/tokenizer-<host>-<date>.json.

Run from anywhere:  .venv/bin/python benchmarks/bench_tokenizer.py [--repeats 5] [--batch-size 256]
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


def corpus_lines():
    lines = []
    for path in sorted((SHARED / "corpus").glob("*.txt")):
        lines += [line for line in path.read_text(encoding="utf-8").split("\n") if line]
    return lines


def make_folder(files, config, root):
    folder = Path(tempfile.mkdtemp(dir=root))
    for hub_name, shared_name in files.items():
        shutil.copy(SHARED / "vocab" / shared_name, folder / hub_name)
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


def engines(folder):
    """name -> function(batch) returning padded NumPy arrays; the same outputs for every engine."""
    from transformers import AutoTokenizer

    from fastenc.tokenizer import Tokenizer

    ours = Tokenizer.from_pretrained(folder)
    reference = AutoTokenizer.from_pretrained(str(folder))
    library = reference.backend_tokenizer
    library.no_truncation()
    library.enable_padding(pad_id=reference.pad_token_id, pad_token=reference.pad_token)

    def fastenc_call(batch):
        out = ours(batch, padding=True, return_tensors="np", return_token_type_ids=True)
        return out["input_ids"], out["attention_mask"], out["token_type_ids"]

    def library_call(batch):
        encodings = library.encode_batch(batch)
        return (np.array([e.ids for e in encodings], dtype=np.int64),
                np.array([e.attention_mask for e in encodings], dtype=np.int64),
                np.array([e.type_ids for e in encodings], dtype=np.int64))

    def transformers_call(batch):
        out = reference(batch, padding=True, return_tensors="np", return_token_type_ids=True)
        return out["input_ids"], out["attention_mask"], out["token_type_ids"]

    return {"fastenc": fastenc_call, "tokenizers encode_batch": library_call,
            "transformers fast __call__": transformers_call}


def measure(mode, repeats, batch_size):
    lines = corpus_lines()
    batches = [lines[i:i + batch_size] for i in range(0, len(lines), batch_size)]
    megabytes = sum(len(line.encode("utf-8")) for line in lines) / 1e6
    results = []
    with tempfile.TemporaryDirectory() as root:
        for vocab, (files, config) in VOCABS.items():
            runs = engines(make_folder(files, config, root))
            expected = None
            for engine, run in runs.items():
                outputs = [run(b) for b in batches]  # warm-up (and the BPE word cache, for every engine alike)
                tokens = int(sum(o[1].sum() for o in outputs))
                ids = [o[0] for o in outputs]
                if expected is None:
                    expected = ids
                elif not all(np.array_equal(a, b) for a, b in zip(ids, expected)):
                    raise SystemExit(f"{engine} disagrees with fastenc on {vocab}: not a fair comparison")
                times = []
                for _ in range(repeats):
                    start = time.perf_counter()
                    for b in batches:
                        run(b)
                    times.append(time.perf_counter() - start)
                seconds = statistics.median(times)
                results.append(dict(mode=mode, vocab=vocab, engine=engine, seconds=seconds, megabytes=megabytes,
                                    mb_per_s=megabytes / seconds, tokens=tokens, tokens_per_s=tokens / seconds,
                                    times=times))
    return results


def machine():
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import tokenizers
    import transformers

    import fastenc

    return dict(host=socket.gethostname(), cpu=cpu, cores=os.cpu_count(), platform=platform.platform(),
                python=platform.python_version(), numpy=np.__version__, tokenizers=tokenizers.__version__,
                transformers=transformers.__version__, fastenc=fastenc.__version__,
                date=datetime.datetime.now().isoformat(timespec="seconds"), command=" ".join(sys.argv))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--child", choices=["single", "all"], help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.repeats, args.batch_size)))
        return
    results = []
    for mode in ("single", "all"):
        env = dict(os.environ)
        if mode == "single":
            env.update(FASTENC_NUM_THREADS="1", RAYON_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
        else:
            for key in ("FASTENC_NUM_THREADS", "RAYON_NUM_THREADS", "TOKENIZERS_PARALLELISM"):
                env.pop(key, None)
        child = subprocess.run([sys.executable, __file__, "--child", mode, "--repeats", str(args.repeats),
                                "--batch-size", str(args.batch_size)], env=env, check=True, capture_output=True,
                               text=True)
        results += json.loads(child.stdout.strip().splitlines()[-1])
    info = machine()
    print(f"# {info['cpu']}, {info['cores']} cores; tokenizers {info['tokenizers']}, transformers "
          f"{info['transformers']}; batch {args.batch_size}, median of {args.repeats}; {info['date']}")
    print(f"{'threads':8} {'vocabulary':42} {'engine':28} {'MB/s':>8} {'Mtok/s':>8} {'x encode_batch':>15}")
    for r in results:
        base = next(x for x in results if x["mode"] == r["mode"] and x["vocab"] == r["vocab"]
                    and x["engine"] == "tokenizers encode_batch")
        r["speedup_vs_encode_batch"] = base["seconds"] / r["seconds"]
        print(f"{r['mode']:8} {r['vocab']:42} {r['engine']:28} {r['mb_per_s']:8.2f} {r['tokens_per_s'] / 1e6:8.3f} "
              f"{r['speedup_vs_encode_batch']:15.2f}")
    out = args.out or REPO / "benchmarks" / "results" / (
        f"tokenizer-{info['host']}-{datetime.date.today().isoformat()}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(dict(machine=info, batch_size=args.batch_size, repeats=args.repeats, results=results),
                              indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
