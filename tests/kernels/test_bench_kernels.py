"""benchmarks/bench_kernels.py: its accounting on the CPU, a clean exit where there is no GPU, and its dry run through
the Triton interpreter."""
import importlib.util
import json
import pathlib

import pytest
import torch

PATH = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "bench_kernels.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_kernels", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_attention_accounting(bench):
    # BERT-base, one sequence of 512: 2 matmuls of (512 x 64) @ (64 x 512), 12 heads.
    assert bench.attention_flops(1, 512, 12, 64) == 2 * 2 * 12 * 512 * 512 * 64
    assert bench.attention_bytes(2, 128, 12, 64, 2) == 4 * 2 * 128 * 12 * 64 * 2


def test_memory_bound_accounting(bench):
    assert bench.layer_norm_bytes(10, 768, 2, residual=False) == 2 * 10 * 768 * 2 + 2 * 768 * 4
    assert bench.layer_norm_bytes(10, 768, 2, residual=True, param_itemsize=2) == 3 * 10 * 768 * 2 + 2 * 768 * 2
    assert bench.bias_gelu_bytes(4, 3072, 2) == 2 * 4 * 3072 * 2 + 3072 * 2
    assert bench.copy_bytes(1 << 20, 4) == 8 << 20
    assert bench.linear_flops(512, 1024, 4096) == 2 * 512 * 1024 * 4096
    assert bench.linear_bytes(512, 1024, 4096, 2) == (512 * 1024 + 4096 * 1024 + 512 * 4096 + 4096) * 2
    assert bench.rate(2e9, 1000.0) == pytest.approx(2.0)  # 2 GB in one second


def test_cases_fill_the_gpu_with_encoder_shapes(bench):
    cases = bench.attention_cases()
    assert {c["seqlen"] for c in cases} == {128, 384, 512} and {c["head_dim"] for c in cases} == {64}
    assert all(c["batch"] * c["seqlen"] >= 65000 for c in cases)
    assert {c["hidden"] for c in bench.row_cases()} == {768, 1024}
    assert len(bench.attention_cases(quick=True)) < len(cases)
    ffn = bench.linear_gelu_cases()
    assert {(c["hidden"], c["ffn"]) for c in ffn} == {(1024, 4096), (768, 3072)}  # roberta-large, bert-base
    assert {c["tokens"] for c in ffn} == {512, 4096, 16384} and {c["dtype"] for c in ffn} == {"bf16", "fp16"}
    assert len(ffn) == 12 and len(bench.linear_gelu_cases(quick=True)) < len(ffn)


def test_rows_and_targets(bench):
    attention = bench.row("attention", dict(seqlen=128), torch.bfloat16, (1.0, 0.9, 1.1), (1.2, 1.1, 1.3), "sdpa",
                          nbytes=4e9, flops=3e9)
    assert attention["speedup"] == pytest.approx(1.2) and attention["tflops"] == pytest.approx(3.0)  # 3 GFLOP in 1 ms
    assert attention["gbps"] == pytest.approx(4000.0) and attention["dtype"] == "bfloat16"
    norm = bench.row("layer_norm+residual", dict(rows=1), torch.bfloat16, (1.0, 0.9, 1.1), (2.0, 1.9, 2.1), "F",
                     nbytes=3e9, copy_gbps=4000.0)
    assert norm["fraction_of_copy"] == pytest.approx(0.75)
    assert bench.targets_met([attention, norm]) == {"attention": True, "layer_norm+residual": False}
    slower = bench.row("linear_gelu", dict(tokens=512), torch.float16, (1.0, 0.9, 1.1), (0.9, 0.8, 1.0), "F",
                       nbytes=1e9, flops=1e9)
    assert bench.targets_met([slower]) == {"linear_gelu": False}


def test_without_cuda_it_says_so_and_exits_zero(bench, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert bench.main([]) == 0
    assert "no CUDA device" in capsys.readouterr().out


def test_dry_run_writes_every_op(bench, tmp_path):
    """The whole script on tiny shapes through the interpreter (a few seconds): every case runs, checks its output
    against PyTorch's and lands in the JSON."""
    from fastenc.kernels import _utils

    if not _utils.INTERPRET:
        pytest.skip("the dry run feeds CPU tensors to the kernels: only under the interpreter")
    out = tmp_path / "kernels.json"
    assert bench.main(["--dry-run", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    ops = {r["op"] for r in report["rows"]}
    assert ops == {"attention", "layer_norm+residual", "bias_gelu", "embeddings+layer_norm", "linear_gelu"}
    (gemm,) = [r for r in report["rows"] if r["op"] == "linear_gelu"]
    assert gemm["baseline"] == "F.linear + bias_gelu" and gemm["tflops"] > 0 and gemm["linear_bias_ms"] > 0
    assert "linear_gelu" in report["targets_met"]
