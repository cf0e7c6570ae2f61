"""The README's GPU tables (markdown), generated from a committed GPU-check JSON (benchmarks/results/gpu-*.json).

    python benchmarks/gpu_table.py [RESULTS.json] [--readme README.md]

Without a path it takes the newest benchmarks/results/gpu-*.json. It prints the tables; with --readme it replaces
what lies between the README's `<!-- gpu-table:start -->` and `<!-- gpu-table:end -->` lines. Dry-run JSON (the
CPU plumbing check) is refused: it holds no measurement.
"""
import argparse
import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
START, END = "<!-- gpu-table:start -->", "<!-- gpu-table:end -->"


def newest_result(folder: Path = RESULTS) -> Path | None:
    found = sorted(p for p in folder.glob("gpu-*.json") if not p.name.startswith("gpu-check-dryrun"))
    return max(found, key=lambda p: json.loads(p.read_text()).get("date", "")) if found else None


def _num(value, fmt: str, missing: str = "-") -> str:
    return missing if value is None else format(value, fmt)


def tables(report: dict, source: str) -> str:
    if report.get("dry_run"):
        raise ValueError(f"{source} is a dry run (CPU plumbing check): it holds no GPU measurement")
    lines = [
        f"{report['gpu']}, driver {report.get('driver') or '?'}, torch {report['torch']}, triton {report['triton']}, "
        f"transformers {report['transformers']}, {report['date'][:10]} (`{source}`; command: `{report['command']}`). "
        f"bf16; measured bf16 matmul peak {_num(report.get('matmul_peak_tflops'), '.0f')} TFLOP/s.",
        "",
        "| case | runner | median ms | p90 ms | sequences/s | real tokens/s | MFU | peak MiB "
        "| min cosine vs fp32 | vs sdpa | vs eager | vs compile |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["records"]:
        lines.append(
            f"| {r['case']} | {r['runner']}{' (CUDA graphs)' if r.get('cuda_graphs') else ''} "
            f"| {r['median_ms']:.3f} | {r['p90_ms']:.3f} | {r['sequences_per_s']:,.0f} | {r['tokens_per_s']:,.0f} "
            f"| {r['mfu']:.1%} | {_num(r.get('peak_mem_mb'), ',.0f')} | {r['min_token_cosine_vs_fp32']:.5f} "
            f"| {_num(r.get('speedup_vs_sdpa'), '.2f')}x | {_num(r.get('speedup_vs_eager'), '.2f')}x "
            f"| {_num(r.get('speedup_vs_compile'), '.2f')}x |")
    kernels = report.get("kernels") or {}
    if kernels.get("rows"):
        lines += ["", f"Kernels (device copy: {kernels['copy_gbps']:,.0f} GB/s):", "",
                  "| kernel | shape | ms | GB/s | baseline | vs baseline | of copy |", "|---|---|---:|---:|---|---:|---:|"]
        for k in kernels["rows"]:
            shape = ", ".join(f"{key}={value}" for key, value in k["shape"].items())
            lines.append(f"| {k['op']} | {shape} | {k['ms']:.4f} | {k['gbps']:,.0f} | {k['baseline']} "
                         f"| {k['speedup']:.2f}x | {_num(k.get('fraction_of_copy'), '.0%')} |")
    warmup = (report.get("warmup") or {}).get("runs") or {}
    if warmup:
        parts = [f"{run} {r['process_s']:.1f} s" for run, r in warmup.items() if "process_s" in r]
        lines += ["", "Warm-up of a new process (load, first mixed batch, graph capture): " + ", ".join(parts) + "."]
    embed = report.get("embed") or {}
    if "embed_sentences_per_s" in embed:
        lines += ["", f"`embed`, {embed['sentences']:,} corpus sentences, MiniLM: tokenizer "
                      f"{embed['tokenizer_sentences_per_s']:,.0f}/s on {embed['tokenizer_threads']} cores, model "
                      f"{embed['model_sentences_per_s']:,.0f}/s, end to end {embed['embed_sentences_per_s']:,.0f}/s."]
    return "\n".join(lines) + "\n"


def replace_in_readme(readme: Path, text: str) -> None:
    content = readme.read_text()
    if START not in content or END not in content:
        raise ValueError(f"{readme} has no {START} ... {END} block to fill")
    head, rest = content.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{text}{END}{tail}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("json", nargs="?", type=Path)
    p.add_argument("--readme", type=Path)
    args = p.parse_args(argv)
    path = args.json or newest_result()
    if path is None:
        print(f"gpu_table: no GPU results in {RESULTS} yet (run make gpu-check on a GPU)", file=sys.stderr)
        return 2
    try:
        text = tables(json.loads(path.read_text()), path.name)
        if args.readme:
            replace_in_readme(args.readme, text)
    except (ValueError, KeyError) as e:
        print(f"gpu_table: {path}: {e}", file=sys.stderr)
        return 2
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
