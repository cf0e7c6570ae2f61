"""The CPU peer benchmark's own logic, without the peers: argument parsing, the output check that refuses a wrong
runner before timing, the interleaving, the ratio table, and missing peers reported as skipped. No speed is asserted."""
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import bench_cpu_peers

    return bench_cpu_peers


def test_arguments(bench):
    args = bench.parse_args([])
    assert args.runners == list(bench.peers.NAMES) and args.models == ["minilm", "bert-base"]
    assert args.threads == 2 and not args.quick and args.repeats is None
    args = bench.parse_args(["--quick", "--runners", "ort", "ctranslate2", "--models", "minilm", "--repeats", "7"])
    assert args.quick and args.models == ["minilm"] and args.repeats == 7
    assert args.runners == ["fastenc", "ort", "ctranslate2"]  # fastenc always runs: the ratios are to it
    assert bench.parse_args(["--skip", "bert-base:b", "bert-base:c"]).skip == ["bert-base:b", "bert-base:c"]
    for bad in (["--runners", "onnx"], ["--models", "bert-large"], ["--threads", "0"], ["--repeats", "0"],
                ["--skip", "bert-base"], ["--skip", "minilm:d"], ["--skip", "bert-large:a"]):
        with pytest.raises(SystemExit):
            bench.parse_args(bad)
    assert bench.QUICK.repeats == 1 and bench.Sizes().repeats >= 5


def test_check_tolerances(bench):
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((50, 16)).astype(np.float32)
    assert bench.check(ref + 1e-6, ref, "fp32").ok
    bf16_like = ref * (1 + 2e-3 * rng.standard_normal(ref.shape)).astype(np.float32)  # bf16-sized rounding
    assert bench.check(bf16_like, ref, "bf16").ok
    refused = bench.check(bf16_like, ref, "fp32")
    assert not refused.ok and "max abs error" in refused.reason
    one_bad_token = ref.copy()
    one_bad_token[7] = rng.standard_normal(16)  # a single wrong row is enough to refuse
    result = bench.check(one_bad_token, ref, "bf16")
    assert not result.ok and "min cosine" in result.reason and result.min_cos < 0.9
    assert not bench.check(ref[:49], ref, "fp32").ok
    with_nan = ref.copy()
    with_nan[3, 3] = np.nan
    assert bench.check(with_nan, ref, "fp32").reason == "non-finite values"


class _Fake:
    batching = "fake batching"

    def __init__(self, precision, error):
        self.precision, self.error, self.calls = precision, error, 0


def test_wrong_runner_is_refused_not_timed(bench):
    ref = np.ones((6, 4), dtype=np.float32)
    ref[:, 0] = np.arange(6)
    runners = {"fastenc": _Fake("fp32", 0.0), "good-peer": _Fake("bf16", 1e-3), "bad-peer": _Fake("fp32", 0.5)}

    def output(name):
        return ref + runners[name].error * np.eye(6, 4, dtype=np.float32)

    def call(name):
        def timed():
            runners[name].calls += 1
        return timed

    logged = []
    rows = bench.measure("m", "(a) w", runners, output, call, ref, sentences=6, tokens=30, batching=None,
                         repeats=3, log=logged.append)
    by = {r.runner: r for r in rows}
    assert by["bad-peer"].status == "wrong" and by["bad-peer"].ms is None and by["bad-peer"].ratio is None
    assert runners["bad-peer"].calls == 0 and runners["fastenc"].calls == runners["good-peer"].calls == 3
    assert by["good-peer"].status == "ok" and by["good-peer"].batching == "fake batching"
    assert by["fastenc"].ratio == 1.0 and len(by["good-peer"].times_ms) == 3
    assert by["good-peer"].tokens_per_s == pytest.approx(30 / (by["good-peer"].ms / 1e3))
    assert len(logged) == 3 and "wrong" in logged[2]


def test_interleaved_rotates_the_order(bench):
    order = []
    calls = {name: (lambda n=name: order.append(n)) for name in "abc"}
    times = bench.interleaved(calls, repeats=3)
    assert order == list("abcbcacab") and all(len(t) == 3 for t in times.values())


def test_ratio_table(bench):
    Row = bench.Row
    rows = [Row("minilm", "(a) corpus64", "fastenc", "fp32", "ok", ms=200.0),
            Row("minilm", "(a) corpus64", "ort", "fp32", "ok", ms=100.0),
            Row("minilm", "(a) corpus64", "ctranslate2", "fp32", "wrong", min_cos=0.98123),
            Row("minilm", "(c) job2000", "fastenc", "fp32", "ok", ms=1000.0),
            Row("minilm", "(c) job2000", "ort", "fp32", "ok", ms=1500.0),
            Row("minilm", "(c) job2000", "ctranslate2", "fp32", "error"),
            Row("bert-base", "(a) corpus64", "ort", "fp32", "ok", ms=50.0),  # no fastenc row: no ratio
            Row("bert-base", "-", "openvino-bf16", "-", "skipped", "not installed (openvino)")]
    bench.add_ratios(rows)
    assert [r.ratio for r in rows] == [1.0, 0.5, None, 1.0, 1.5, None, None, None]
    table = bench.ratio_table(rows)
    lines = table.splitlines()
    ort = next(l for l in lines if l.strip().startswith("ort"))
    assert "100.0 (0.50)" in ort and "1500.0 (1.50)" in ort
    ct2 = next(l for l in lines if l.strip().startswith("ctranslate2"))
    assert "wrong, cos 0.9812" in ct2 and ct2.rstrip().endswith("error")
    assert "bert-base:" in table and "50.0 (-)" in table
    assert lines[-1] == "  openvino-bf16 skipped: not installed (openvino)"


def test_missing_peers_are_skipped(bench, monkeypatch, tmp_path):
    for module in ("onnx", "onnxruntime", "openvino", "ctranslate2"):
        monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError, as when not installed
    runners, skipped = bench.peers.build(["ort", "openvino-bf16", "ctranslate2"], tmp_path, tmp_path, 2, None)
    assert runners == {} and list(skipped) == ["ort", "openvino-bf16", "ctranslate2"]
    assert all("not installed" in reason and "[bench]" in reason for reason in skipped.values())
    assert not any(tmp_path.iterdir())  # nothing exported or converted for a peer that is not there


def test_target_lines_compare_the_fastest_fp32_peer_and_openvino_bf16(bench):
    def row(runner, precision, ms):
        return bench.Row("minilm", "(a) corpus64", runner, precision, "ok", ms=ms, min_cos=0.9999)

    rows = [row("fastenc", "fp32", 100.0), row("ort", "fp32", 150.0), row("ctranslate2", "fp32", 120.0),
            row("fastenc-bf16", "bf16", 40.0), row("openvino-bf16", "bf16", 50.0),
            bench.Row("minilm", "(a) corpus64", "openvino-fp32", "fp32", "wrong", ms=None, min_cos=0.5)]
    line = bench.target_lines(rows)[1]
    assert "fp32 1.20x (ctranslate2)" in line  # the fastest timed fp32 peer, not the wrong one, not fastenc-bf16
    assert "bf16 1.25x (openvino-bf16" in line
