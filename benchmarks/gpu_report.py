"""Gather one GPU check's phases into gpu-<gpu>-<date>.json and .txt (the last step of benchmarks/gpu_check.sh).

    python benchmarks/gpu_report.py DIR --command "make gpu-check ..." [--dry-run]

Reads DIR/raw/: phases.tsv (name, exit code, seconds, limit per phase), each phase's log, the pytest phases' JUnit
XML, and the JSON the benchmark phases wrote (models.json, kernels.json, profile.json, warmup.json, embed.json).
Writes DIR/gpu-<gpu>-<date>.json: {"gpu", "driver", "torch", "triton", "transformers", "date", "command", "dry_run",
"phases", "matmul_peak_tflops", "records", "kernels", "profile", "warmup", "embed"}, and DIR/gpu-<gpu>-<date>.txt: the
summary tables followed by every phase's full log.
"""
import argparse
import datetime
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

BENCH_FILES = {"kernels": "kernels.json", "profile": "profile.json", "warmup": "warmup.json", "embed": "embed.json"}


def read_phases(raw: Path) -> dict:
    """name -> {"status": ok|failed|timed out|skipped, "exit_code", "seconds", "limit_s"} in the order they ran."""
    phases = {}
    path = raw / "phases.tsv"
    for line in path.read_text().splitlines() if path.is_file() else []:
        name, code, seconds, limit = line.split("\t")
        code = int(code)
        status = {0: "ok", 124: "timed out", 137: "timed out", -1: "skipped (no time left)"}.get(code, "failed")
        phases[name] = dict(status=status, exit_code=code, seconds=float(seconds), limit_s=int(limit))
        junit = raw / f"{name}.xml"
        if junit.is_file():
            phases[name]["tests"] = junit_summary(junit)
        if code != 0 and _stopped_by_session_timeout(raw / f"{name}.log"):
            phases[name]["status"] = "timed out"  # pytest stopped itself: the tests it did not reach did not run
    return phases


def _stopped_by_session_timeout(log: Path) -> bool:
    try:
        return "session-timeout:" in log.read_text(errors="replace")
    except OSError:
        return False


def junit_summary(path: Path) -> dict:
    """Counts of a pytest JUnit XML file, and the ids of the tests that failed or errored."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        return {"error": f"unreadable JUnit XML: {e}"}
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    counts = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
    failed = [f"{case.get('classname')}::{case.get('name')}" for case in root.iter("testcase")
              if case.find("failure") is not None or case.find("error") is not None]
    return {**counts, "passed": counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"],
            "failed": failed}


def load_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def versions() -> dict:
    found = {}
    for name in ("torch", "triton", "transformers"):
        try:
            from importlib.metadata import version

            found[name] = version(name)
        except Exception:
            found[name] = None
    try:
        import torch

        found["gpu"] = torch.cuda.get_device_name() if torch.cuda.is_available() else None
        found["cuda"] = torch.version.cuda
    except Exception:
        found["gpu"] = found["cuda"] = None
    try:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
        found["driver"] = smi.stdout.strip().splitlines()[0] if smi.returncode == 0 and smi.stdout.strip() else None
    except (OSError, subprocess.TimeoutExpired):
        found["driver"] = None
    return found


def build_report(out_dir: Path, command: str, dry_run: bool, now=None) -> dict:
    raw = out_dir / "raw"
    now = now or datetime.datetime.now(datetime.timezone.utc)
    found = versions()
    models = load_json(raw / "models.json") or {}
    report = {
        "gpu": found["gpu"] or ("cpu (dry run)" if dry_run else None), "driver": found["driver"],
        "cuda": found["cuda"], "cpu": cpu_model(), "torch": found["torch"], "triton": found["triton"],
        "transformers": found["transformers"], "date": now.isoformat(timespec="seconds"), "command": command,
        "dry_run": dry_run, "phases": read_phases(raw),
        "matmul_peak_tflops": models.get("matmul_peak_tflops"), "compile_backend": models.get("compile_backend"),
        "records": models.get("records", []), "failed_cases": models.get("failed_cases", {}),
    }
    for key, name in BENCH_FILES.items():
        report[key] = load_json(raw / name)
    return report


def file_stem(report: dict) -> str:
    """gpu-<gpu>-<date>, or gpu-check-dryrun-cpu-<date> for the CPU dry run."""
    if report["dry_run"]:
        return f"gpu-check-dryrun-cpu-{report['date'][:10]}"
    gpu = "".join(c if c.isalnum() else "-" for c in (report["gpu"] or "unknown")).strip("-").lower()
    return f"gpu-{gpu}-{report['date'][:10]}"


def cpu_model() -> str:
    """The host's CPU model (as lscpu names it) and core count."""
    import os

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores"
    except OSError:
        pass
    return f"unknown, {os.cpu_count()} cores"


def summary(report: dict) -> str:
    lines = [f"GPU check{' (DRY RUN on the CPU: plumbing only, not a measurement)' if report['dry_run'] else ''}",
             f"gpu: {report['gpu']}  driver: {report['driver']}  cuda: {report['cuda']}  cpu: {report['cpu']}",
             f"torch {report['torch']}  triton {report['triton']}  transformers {report['transformers']}",
             f"date: {report['date']}", f"command: {report['command']}", "", "phases:"]
    for name, p in report["phases"].items():
        tests = p.get("tests")
        detail = (f"  {tests['passed']} passed, {tests['failures'] + tests['errors']} failed, {tests['skipped']} "
                  f"skipped" if tests and "tests" in tests else "")
        lines.append(f"  {name:<14} {p['status']:<24} {p['seconds']:7.1f} s (limit {p['limit_s']} s){detail}")
        for test in (tests or {}).get("failed", []):
            lines.append(f"      FAILED {test}")
    if report["matmul_peak_tflops"]:
        lines.append(f"\nmeasured bf16 matmul peak: {report['matmul_peak_tflops']:.1f} TFLOP/s")
    if report["records"]:
        lines.append(f"\n{'case':<48} {'runner':<8} {'median ms':>10} {'p90 ms':>9} {'seq/s':>9} {'tok/s':>10} "
                     f"{'MFU':>6} {'mem MiB':>8} {'min cos':>8} {'vs sdpa':>8} {'vs compile':>10}")
        for r in report["records"]:
            mem = f"{r['peak_mem_mb']:8.0f}" if r.get("peak_mem_mb") is not None else "       -"
            vs = f"{r['speedup_vs_sdpa']:7.2f}x" if r.get("speedup_vs_sdpa") else "       -"
            vs += f" {r['speedup_vs_compile']:9.2f}x" if r.get("speedup_vs_compile") else "          -"
            lines.append(f"{r['case']:<48} {r['runner']:<8} {r['median_ms']:10.3f} {r['p90_ms']:9.3f} "
                         f"{r['sequences_per_s']:9.1f} {r['tokens_per_s']:10.0f} {r['mfu']:6.1%} {mem} "
                         f"{r['min_token_cosine_vs_fp32']:8.5f} {vs}")
    for case, error in report["failed_cases"].items():
        lines.append(f"FAILED case {case}: {error}")
    for key in BENCH_FILES:
        lines.append(f"\n{key}: " + (json.dumps(report[key], indent=1) if report[key] is not None else "no results"))
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dir", type=Path)
    p.add_argument("--command", default="benchmarks/gpu_check.sh")
    p.add_argument("--dry-run", action="store_true")
    args = p.parse_args(argv)
    report = build_report(args.dir, args.command, args.dry_run)
    stem = file_stem(report)
    (args.dir / f"{stem}.json").write_text(json.dumps(report, indent=1) + "\n")
    logs = []
    for name in report["phases"]:
        log = args.dir / "raw" / f"{name}.log"
        text = log.read_text(errors="replace") if log.is_file() else "(no log)\n"
        logs.append(f"\n===== {name} (raw log) =====\n{text}")
    (args.dir / f"{stem}.txt").write_text(summary(report) + "".join(logs))
    print(summary(report))
    print(f"wrote {args.dir / stem}.json and .txt")
    bad = [n for n, ph in report["phases"].items() if ph["status"] != "ok"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
