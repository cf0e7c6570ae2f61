"""The GPU check's plumbing on the CPU, at the smallest size: its command line, the model benchmark's records on one
tiny case, the report it assembles, and the README table generated from a (synthetic) result. No speed is asserted."""
import json
import subprocess
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
REQUIRED = {"gpu", "driver", "torch", "triton", "transformers", "date", "command", "records"}
RECORD = {"case", "runner", "median_ms", "p90_ms", "sequences_per_s", "tokens_per_s", "mfu", "peak_mem_mb",
          "max_abs_err_vs_fp32", "min_token_cosine_vs_fp32"}


@pytest.fixture
def bench_modules(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import gpu_bench
    import gpu_report
    import gpu_table

    return gpu_bench, gpu_report, gpu_table


@pytest.fixture
def gpu_profile(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import gpu_profile

    return gpu_profile


def test_check_script_usage_errors():
    script = BENCHMARKS / "gpu_check.sh"
    for args in ([], ["--dry-run"], ["out", "--bogus"]):
        done = subprocess.run(["bash", str(script), *args], capture_output=True, text=True, timeout=30)
        assert done.returncode == 2 and "usage:" in done.stderr


def test_cases_cover_the_issue(bench_modules):
    gpu_bench, _, _ = bench_modules
    names = [c.name for c in gpu_bench.cases(dry_run=False)]
    for key in ("mixed", "64x512", "1x128", "squad"):
        assert sum(key in n for n in names) == 1, (key, names)
    real, dry = gpu_bench.cases(False), gpu_bench.cases(True)
    assert [len(c.lengths) for c in real] == [64, 64, 1, 256]
    assert all(max(d.lengths) < max(r.lengths) for d, r in zip(dry, real))
    args = gpu_bench.parse_args(["--out", "x.json", "--dry-run"])
    assert args.dry_run and args.compile_backend == "eager" and args.repeats == 2


def test_dry_run_writes_records_then_the_report(bench_modules, tmp_path):
    gpu_bench, gpu_report, _ = bench_modules
    raw = tmp_path / "raw"
    assert gpu_bench.main(["--out", str(raw / "models.json"), "--dry-run", "--cases", "1x128", "--repeats", "1",
                           "--warmup", "0", "--compile-all", "--tuned-table-out", str(raw / "tuned-models.json")]) == 0
    dump = json.loads((raw / "tuned-models.json").read_text())  # the CPU tunes nothing, but the file is a table
    assert dump["format"] == 1 and dump["gpu"] is None and dump["kernels"] == {}
    (raw / "gpu-tests.xml").write_text(
        '<testsuites><testsuite tests="3" failures="1" errors="0" skipped="1">'
        '<testcase classname="tests.gpu.t" name="a"/><testcase classname="tests.gpu.t" name="b"><failure/></testcase>'
        '<testcase classname="tests.gpu.t" name="c"><skipped/></testcase></testsuite></testsuites>')
    (raw / "phases.tsv").write_text("setup\t0\t1.5\t90\nkernel-tests\t2\t121.0\t150\ngpu-tests\t1\t3.0\t120\n"
                                    "model-bench\t124\t60.0\t60\n")
    # pytest-timeout's --session-timeout ended the kernel tests (exit 2) before the phase's own limit
    (raw / "kernel-tests.log").write_text("!!! xdist.dsession.Interrupted: session-timeout: 120.0 sec exceeded !!!\n"
                                          "8 passed in 121.0s\n")
    (raw / "gpu-tests.log").write_text("1 failed, 1 passed, 1 skipped in 3.0s\n")
    report = gpu_report.build_report(tmp_path, "make gpu-check OUT=x DRY=1", dry_run=True)
    assert REQUIRED <= set(report) and report["dry_run"] is True
    assert [p["status"] for p in report["phases"].values()] == ["ok", "timed out", "failed", "timed out"]
    assert report["phases"]["gpu-tests"]["tests"] == dict(tests=3, failures=1, errors=0, skipped=1, passed=1,
                                                         failed=["tests.gpu.t::b"])
    runners = [r["runner"] for r in report["records"]]
    assert runners == ["fastenc", "eager", "sdpa", "compile"]  # torch.compile in a later pass, with fastenc again
    fastenc, compiled = report["records"][0], report["records"][-1]
    assert fastenc["speedup_vs_compile"] > 0 and compiled["fastenc_median_ms_same_rounds"] > 0
    assert compiled["speedup_vs_sdpa"] > 0
    for record in report["records"]:
        assert RECORD <= set(record) and "1x128" in record["case"] and "dry-run" in record["case"]
        assert record["min_token_cosine_vs_fp32"] > 0.99  # bf16 beside fp32 on a tiny model
    assert gpu_report.file_stem(report).startswith("gpu-check-dryrun-")
    assert gpu_report.main([str(tmp_path), "--dry-run"]) == 1  # a phase failed: the check says so
    written = json.loads(next(tmp_path.glob("gpu-check-dryrun-*.json")).read_text())
    assert written["records"] == json.loads(json.dumps(report["records"]))
    assert "===== gpu-tests (raw log) =====" in next(tmp_path.glob("gpu-check-dryrun-*.txt")).read_text()


def synthetic_report() -> dict:
    """A made-up result (never committed), shaped like gpu_report's output."""
    record = dict(case="roberta-large mixed 64x16-512", runner="fastenc", median_ms=2.0, p90_ms=2.5,
                  sequences_per_s=32000.0, tokens_per_s=8.5e6, mfu=0.5, peak_mem_mb=100.0, cuda_graphs=False,
                  min_token_cosine_vs_fp32=0.9999, speedup_vs_sdpa=3.0, speedup_vs_eager=None)
    return dict(gpu="SYNTHETIC GPU", driver="0.0", torch="0", triton="0", transformers="0", date="2000-01-01T00:00:00",
                command="synthetic", dry_run=False, matmul_peak_tflops=100.0,
                records=[record, dict(record, runner="sdpa", median_ms=6.0, speedup_vs_sdpa=1.0)],
                kernels=dict(copy_gbps=1000.0, rows=[dict(op="bias_gelu", shape=dict(rows=4, hidden=8), ms=0.1,
                                                          gbps=800.0, baseline="F.gelu", speedup=1.5,
                                                          fraction_of_copy=0.8)]),
                warmup=dict(runs=dict(cold=dict(process_s=30.0), warm=dict(process_s=5.0))), embed=None)


def test_table_from_a_synthetic_result(bench_modules, tmp_path):
    _, _, gpu_table = bench_modules
    path = tmp_path / "gpu-synthetic-2000-01-01.json"
    path.write_text(json.dumps(synthetic_report()))
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n## GPU\n{gpu_table.START}\nno GPU run yet\n{gpu_table.END}\n\n## Next\n")
    assert gpu_table.main([str(path), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "no GPU run yet" not in text and text.endswith(f"{gpu_table.END}\n\n## Next\n")
    rows = [l for l in text.splitlines() if l.startswith("| roberta-large mixed")]
    assert rows[0].split("|")[2:5] == [" fastenc ", " 2.000 ", " 2.500 "] and " 3.00x " in rows[0].split("|")
    assert "SYNTHETIC GPU" in text and "| bias_gelu | rows=4, hidden=8 |" in text and "cold 30.0 s" in text


def test_table_refuses_dry_runs_and_missing_markers(bench_modules, tmp_path, capsys):
    _, _, gpu_table = bench_modules
    path = tmp_path / "r.json"
    path.write_text(json.dumps(dict(synthetic_report(), dry_run=True)))
    assert gpu_table.main([str(path)]) == 2 and "dry run" in capsys.readouterr().err
    path.write_text(json.dumps(synthetic_report()))
    readme = tmp_path / "README.md"
    readme.write_text("no markers\n")
    assert gpu_table.main([str(path), "--readme", str(readme)]) == 2 and readme.read_text() == "no markers\n"


def _interval(name, ts, dur, cat="kernel"):
    return dict(ph="X", cat=cat, name=name, ts=ts, dur=dur)


def test_profile_summary_of_a_made_up_trace(gpu_profile):
    """Busy time is the union of GPU intervals (two streams may overlap), gaps lie between them, syncs are counted."""
    trace = {"traceEvents": [
        _interval("gemm", 0, 100), _interval("gemm", 150, 100),  # a 50 us gap
        _interval("softmax", 200, 100),  # overlaps the second gemm: 50 us of new busy time
        _interval("Memcpy HtoD", 400, 20, cat="gpu_memcpy"),  # a 100 us gap before it
        _interval("cudaLaunchKernel", 0, 5, cat="cuda_runtime"),
        _interval("cudaLaunchKernel", 10, 5, cat="cuda_runtime"),
        _interval("cudaStreamSynchronize", 300, 90, cat="cuda_runtime"),
        _interval("aten::item", 299, 92, cat="cpu_op"),
        dict(ph="i", cat="kernel", name="instant", ts=5),  # not an interval: ignored
    ]}
    got = gpu_profile.summarise(trace, wall_ms=1.0)
    assert got["gpu_busy_ms"] == pytest.approx(0.27) and got["gpu_busy_share"] == pytest.approx(0.27)
    assert got["gpu_intervals"] == 4 and got["kernel_launches"] == 2
    assert [g["gap_us"] for g in got["largest_gaps"]] == [100, 50] and got["gaps_over_10us"] == 2
    assert got["idle_in_gaps_ms"] == pytest.approx(0.15)
    top = {k["name"]: (k["calls"], k["total_ms"]) for k in got["top_kernels"]}
    assert top == {"gemm": (2, 0.2), "softmax": (1, 0.1), "Memcpy HtoD": (1, 0.02)}
    assert got["host_syncs"] == {"cudaStreamSynchronize": 1} and got["scalar_reads"] == 1


def test_profile_dry_run_writes_every_case(gpu_profile, tmp_path):
    out = tmp_path / "profile.json"
    assert gpu_profile.main(["--out", str(out), "--trace-dir", str(tmp_path / "traces"), "--dry-run"]) == 0
    report = json.loads(out.read_text())
    assert [c["case"] for c in report["cases"]] == [name for name, _ in gpu_profile.cases(dry_run=True)]
    assert all(c["wall_ms"] > 0 and c["gpu_busy_share"] is None for c in report["cases"])  # the CPU has no GPU time
    assert len(list((tmp_path / "traces").glob("*.json.gz"))) == len(report["cases"])


def dump(tmp_path, name, block, triton_version="3.6.0", key=(512, 64)):
    """A table as one GPU process writes it (fastenc.kernels.tuned.write_table), with one winner."""
    entry = {"key": [*key, "torch.bfloat16"], "config": {"kwargs": {"BLOCK_M": block, "BLOCK_N": 64},
                                                         "num_warps": 8, "num_stages": 3, "num_ctas": 1}}
    path = tmp_path / name
    path.write_text(json.dumps({"format": 1, "gpu": "NVIDIA H200", "triton": triton_version, "torch": "2.11.0",
                                "kernels": {"fastenc.kernels.attention._attention_kernel": [entry]}}))
    return path


def test_autotune_table_joins_the_dumps(monkeypatch, tmp_path, capsys):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import gpu_autotune_table

    first, second = dump(tmp_path, "a.json", 128), dump(tmp_path, "b.json", 64, key=(128, 64))
    clash, other = dump(tmp_path, "c.json", 64), dump(tmp_path, "d.json", 64, triton_version="9.9.9")
    (tmp_path / "broken.json").write_text("{")
    out = tmp_path / "tuned"
    args = ["--out", str(out), str(first), str(second), str(clash), str(other), str(tmp_path / "broken.json"),
            str(tmp_path / "never-written.json")]
    assert gpu_autotune_table.main(args) == 0
    table = json.loads((out / "nvidia-h200.json").read_text())
    [(kernel, entries)] = table["kernels"].items()
    assert [(e["key"][0], e["config"]["kwargs"]["BLOCK_M"]) for e in entries] == [(128, 64), (512, 128)]
    printed = capsys.readouterr().out
    assert "never-written.json" in printed and "broken.json" in printed and "Triton 9.9.9" in printed
    assert "attention_kernel 2" in printed
    assert gpu_autotune_table.main(["--out", str(out), str(tmp_path / "never-written.json")]) == 1


def test_stored_references_hold_fastenc_to_the_rule_where_transformers_lacks_the_family(tmp_path):
    """gpu_data.py's stored transformers outputs, read back as the GPU parity test reads them on a machine whose
    transformers has no GTE: fastenc's CPU path meets the suite's rule against them, and a missing one skips."""
    import fastenc
    import stored_references
    import torch
    from parity import assert_parity

    stored_references.write("gte", tmp_path)
    stored = stored_references.load("gte", tmp_path)
    assert set(stored.oracle) == set(stored.theirs) == {"last_hidden_state", "logits"}
    assert stored.oracle["logits"].dtype == torch.float64 and stored.theirs["logits"].dtype == torch.float32
    lengths = stored.attention_mask.sum(1).tolist()
    model = fastenc.load(stored.folder, dtype=torch.float32)
    assert lengths == [model.max_length, 3, model.max_length // 2, 1]
    out = model(stored.input_ids, attention_mask=stored.attention_mask)
    for name, ours in (("last_hidden_state", out.last_hidden_state), ("logits", out.logits)):
        assert_parity("gte (stored)", name, ours, stored.theirs[name], stored.oracle[name], stored.attention_mask)
    with pytest.raises(pytest.skip.Exception, match="no stored transformers reference for mpnet"):
        stored_references.load("mpnet", tmp_path)


def test_a_prebuilt_extension_is_used_only_with_the_sources_it_was_built_from(monkeypatch, tmp_path, capsys):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import gpu_data

    extension = tmp_path / "prebuilt" / "_C.cpython-312-x86_64-linux-gnu.so"
    assert gpu_data.main(["--check-prebuilt", str(extension)]) == 1 and "no prebuilt" in capsys.readouterr().err
    extension.parent.mkdir()
    extension.write_bytes(b"\x7fELF")
    (extension.parent / "sources.sha256").write_text(gpu_data.sources_digest() + "\n")
    assert gpu_data.main(["--check-prebuilt", str(extension)]) == 0
    (extension.parent / "sources.sha256").write_text("0" * 64 + "\n")  # built from other sources
    assert gpu_data.main(["--check-prebuilt", str(extension)]) == 1 and "other sources" in capsys.readouterr().err
