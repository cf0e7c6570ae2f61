"""Data-race check of the C++ tokenizer under ThreadSanitizer: builds fastenc._C with -fsanitize=thread into a temporary
copy of the package, then has 8 Python threads share three tokenizers (all threads, 1 thread, 2 threads) on batches
of 1 to 3000 corpus lines, so that pool jobs of different sizes and thread limits overlap, and checks every result
against a serial call. Prints ThreadSanitizer's reports grouped by kind and exits non-zero on any report other than
the known false positive at thread exit (glibc freeing a finished thread's dynamic TLS, `_dl_deallocate_tls`, which
TSan cannot order against that thread's own thread_local destructors).

Needs g++ with libtsan.  Run:  .venv/bin/python scripts/tsan_tokenizer.py [--seconds 8] [--out FILE]
"""
import argparse
import datetime
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

STRESS = r'''
import json, random, shutil, sys, tempfile, threading, time
from pathlib import Path
import numpy as np
import fastenc
from fastenc.tokenizer import Tokenizer
assert "tsan" in fastenc._C.__file__, fastenc._C.__file__
shared = Path(sys.argv[1]) / "data"
lines = [l for p in sorted((shared / "corpus").glob("*.txt")) for l in p.read_text(encoding="utf-8").split("\n") if l]
folder = Path(tempfile.mkdtemp())
shutil.copy(shared / "vocab" / "roberta-base.vocab.json", folder / "vocab.json")
shutil.copy(shared / "vocab" / "roberta-base.merges.txt", folder / "merges.txt")
(folder / "tokenizer_config.json").write_text(json.dumps(dict(tokenizer_class="RobertaTokenizer")))
toks = [Tokenizer.from_pretrained(folder) for _ in range(3)]
for tok, n in zip(toks, (None, 1, 2)):
    tok.num_threads = n
rng = random.Random(0)
jobs = [lines[a:a + n] for a, n in ((rng.randrange(len(lines) - 3000), rng.choice([1, 5, 50, 300, 3000]))
                                    for _ in range(40))]
expected = [toks[0].encode_packed(j, max_length=64) for j in jobs]
calls, mismatches = [0], []
def worker(seed):
    r = random.Random(seed)
    end = time.time() + float(sys.argv[2])
    while time.time() < end:
        i = r.randrange(len(jobs))
        out = toks[r.randrange(3)].encode_packed(jobs[i], max_length=64)
        if not all(np.array_equal(out[k], expected[i][k]) for k in out):
            mismatches.append(i)
        calls[0] += 1
threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join(600)
print(f"calls {calls[0]}, mismatches {len(mismatches)}, threads still alive {sum(t.is_alive() for t in threads)}")
'''


def cpu_model() -> str:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    return next((line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name")),
                platform.machine())


def build(package: Path):
    include = [sysconfig.get_paths()["include"], __import__("pybind11").get_include(), str(REPO / "csrc")]
    target = package / ("_C.tsan" + sysconfig.get_config_var("EXT_SUFFIX"))
    command = ["g++", "-std=c++17", "-O1", "-g", "-fsanitize=thread", "-fPIC", "-shared", "-pthread",
               *[f"-I{i}" for i in include], *sorted(map(str, (REPO / "csrc").glob("*.cpp"))), "-o", str(target)]
    subprocess.run(command, check=True)
    # fastenc imports `._C`: the instrumented build takes that name in the copy.
    target.rename(package / ("_C" + sysconfig.get_config_var("EXT_SUFFIX")))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--out", type=Path, help="also write the summary here")
    args = parser.parse_args()
    libtsan = subprocess.run(["g++", "-print-file-name=libtsan.so"], capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="tsan") as root:
        package = Path(root) / "fastenc"
        shutil.copytree(REPO / "fastenc", package, ignore=shutil.ignore_patterns("_C*.so", "__pycache__"))
        build(package)
        env = dict(os.environ, PYTHONPATH=root, LD_PRELOAD=libtsan,
                   TSAN_OPTIONS="halt_on_error=0 report_signal_unsafe=0 history_size=2")
        run = subprocess.run([sys.executable, "-c", STRESS, str(REPO.parent / "shared"), str(args.seconds)],
                             env=env, capture_output=True, text=True, cwd=root)
    reports = [b for b in run.stderr.split("==================") if "WARNING: ThreadSanitizer" in b]
    known = [b for b in reports if "_dl_deallocate_tls" in b]
    other = [b for b in reports if b not in known]
    summary = [f"# command: {' '.join(sys.argv)}; {datetime.datetime.now().isoformat(timespec='seconds')}; "
               f"{cpu_model()}, {os.cpu_count()} cores, g++ TSan",
               f"# stress: {run.stdout.strip() or '(no output)'}",
               f"# exit status of the stress run: {run.returncode} (66: TSan reported something)",
               f"ThreadSanitizer reports: {len(reports)}; known thread-exit TLS false positives: {len(known)}; "
               f"other: {len(other)}"]
    summary += [b.strip() for b in other[:5]]
    text = "\n".join(summary)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    stress_ok = "mismatches 0," in run.stdout and "alive 0" in run.stdout
    sys.exit(0 if stress_ok and not other else 1)


if __name__ == "__main__":
    main()
