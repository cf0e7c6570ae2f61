"""Join the autotuning winners that GPU processes dumped into one committed-format table: DIR/<gpu>.json.

    python benchmarks/gpu_autotune_table.py --out DIR DUMP.json [DUMP.json ...]

A dump is what `fastenc.kernels.tuned.write_table` writes at the end of a process that ran the kernels with the table
off (`gpu_bench.py` and `gpu_warmup.py --tuned-table-out`): Triton's caches live in the process that tuned, so each
process writes its own and this script joins them. On a key two dumps both hold, the first one named wins; dumps for
another GPU or Triton than the first are left out. Missing dumps (a phase that timed out) are skipped. To refresh a
committed table, name the new dump first and the committed file after it, with --out fastenc/kernels/tuned_tables.
"""
import argparse
import json
import sys
from pathlib import Path

from fastenc.kernels import tuned


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="folder that receives <gpu>.json")
    p.add_argument("dumps", type=Path, nargs="+", help="tables written by tuned.write_table, most trusted first")
    args = p.parse_args(argv)
    documents = []
    for path in args.dumps:
        if not path.is_file():
            print(f"skipped {path}: not written (did its phase time out?)")
            continue
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            print(f"skipped {path}: not readable JSON ({e})")
            continue
        try:
            tuned.parse_table(document, str(path))  # the format check; its message starts with the file
        except tuned.TableError as e:
            print(f"skipped {e}")
            continue
        documents.append(document)
    if not documents:
        print("no autotuning dump to join", file=sys.stderr)
        return 1
    merged, notes = tuned.merge(documents)
    for note in notes:
        print(note)
    out = args.out / f"{tuned.file_name(merged['gpu'] or 'no-gpu')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(merged, indent=1) + "\n")
    counts = ", ".join(f"{k.rpartition('.')[2]} {len(v)}" for k, v in merged["kernels"].items()) or "no keys"
    print(f"{out}: {merged['gpu']}, Triton {merged['triton']}: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
