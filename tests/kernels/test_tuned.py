"""The committed autotuning table (fastenc/kernels/tuned.py): written from Triton's own Autotuner caches, read back,
and a new key pruned to its winner only where the table is for this GPU and Triton; otherwise the search as before."""
import importlib
import json

import pytest
import torch
import triton
import triton.language as tl

from fastenc.kernels import tuned

GPU = "NVIDIA H100 80GB HBM3"  # what the tests pretend the current device is called


@triton.jit
def _fill_kernel(Out, n, value, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(Out + offs, value, mask=offs < n)


FILL = f"{_fill_kernel.fn.__module__}._fill_kernel"  # the name the table files the kernel under
CONFIGS = [triton.Config({"BLOCK": b}, num_warps=w, num_stages=2) for b in (16, 32, 64) for w in (2, 4)]


def _too_wide(configs, named_args, **kwargs):
    """The kernel's own safety pruning in miniature: no block wider than the next power of two of n."""
    return [c for c in configs if c.kwargs["BLOCK"] <= max(16, triton.next_power_of_2(named_args["n"]))]


def make_kernel(timings: dict, benched: list):
    """A real Triton Autotuner over _fill_kernel whose timings come from `timings` (BLOCK, num_warps) -> ms, so the
    winner is known; every config it times is appended to `benched`."""

    def fake_bench(kernel_call, quantiles):
        config = autotuner.current
        benched.append(config)
        return [timings[(config.kwargs["BLOCK"], config.num_warps)]] * 3

    autotuner = triton.autotune(configs=CONFIGS, key=["n"], prune_configs_by={"early_config_prune": _too_wide},
                                do_bench=fake_bench)(_fill_kernel)
    bench = autotuner._bench

    def remember(*args, config, **meta):  # fake_bench is not told which config it times
        autotuner.current = config
        return bench(*args, config=config, **meta)

    autotuner._bench = remember
    return autotuner


def launch(kernel, n, device, dtype=torch.float32):
    out = torch.zeros(n, device=device, dtype=dtype)
    kernel[(triton.cdiv(n, 16),)](out, n, 1.0)
    return out


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """A registry, counters and table folder of the test's own, a pretend GPU, and no table read before."""
    monkeypatch.setattr(tuned, "REGISTRY", {})
    monkeypatch.setattr(tuned, "LOOKUPS", {"from_table": 0, "searched": 0})
    monkeypatch.setattr(tuned, "TABLE_DIR", tmp_path / "tuned")
    monkeypatch.setattr(tuned, "current_gpu", lambda: GPU)
    monkeypatch.delenv(tuned.ENV, raising=False)
    monkeypatch.delenv(tuned.NO_SEARCH_ENV, raising=False)
    tuned.reload()
    yield tmp_path
    tuned.reload()


def test_file_names_of_gpus():
    assert tuned.file_name("NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb-hbm3"
    assert tuned.file_name("NVIDIA A100-SXM4-80GB") == "nvidia-a100-sxm4-80gb"
    assert tuned.file_name("NVIDIA H200") == "nvidia-h200"


TIMINGS = {(16, 2): 5.0, (16, 4): 4.0, (32, 2): 3.0, (32, 4): 1.0, (64, 2): 2.0, (64, 4): 6.0}


def test_round_trip_prunes_a_new_process_to_the_winner(device, isolated):
    benched = []
    kernel = tuned.from_table(make_kernel(TIMINGS, benched))
    assert launch(kernel, 24, device).sum().item() == 24
    assert len(benched) == 4 and len(kernel.cache) == 1  # BLOCK 16 and 32 pass the pruning, two warp counts each
    path = tuned.write_table(isolated / "tuned")
    assert path.name == "nvidia-h100-80gb-hbm3.json"
    document = json.loads(path.read_text())
    assert (document["gpu"], document["triton"], document["format"]) == (GPU, triton.__version__, tuned.FORMAT)
    [entry] = document["kernels"][FILL]
    assert entry["config"] == {"kwargs": {"BLOCK": 32}, "num_warps": 4, "num_stages": 2, "num_ctas": 1,
                               "maxnreg": None}
    assert entry["key"] == [24, "torch.float32"]  # n, then the dtype of Out: Triton's own key, as it filed it

    tuned.reload()  # a new process: a fresh Autotuner, the table committed
    benched.clear()
    tuned.LOOKUPS.update(from_table=0, searched=0)
    kernel = tuned.from_table(make_kernel(TIMINGS, benched))
    assert launch(kernel, 24, device).sum().item() == 24
    assert benched == []  # the lone winner is compiled and launched, not timed
    assert tuned.LOOKUPS == {"from_table": 1, "searched": 0}
    launch(kernel, 100, device)  # a key the table lacks: searched as before
    assert len(benched) >= 6 and tuned.LOOKUPS == {"from_table": 1, "searched": 1}


def table_document(**overrides):
    entry = {"key": [24, "torch.float32"], "config": {"kwargs": {"BLOCK": 32}, "num_warps": 4, "num_stages": 2}}
    return {"format": 1, "gpu": GPU, "triton": triton.__version__, "kernels": {FILL: [entry]}, **overrides}


def prune(kernel, n=24, dtype=torch.float32):
    """What the kernel's hook keeps for a new key, as Autotuner.prune_configs asks it."""
    return [(c.kwargs["BLOCK"], c.num_warps) for c in
            kernel.early_config_prune(kernel.configs, {"Out": torch.empty(1, dtype=dtype), "n": n, "value": 1.0},
                                      grid=(1,), warmup=False)]


@pytest.fixture
def fill(isolated):
    """The fill kernel, with the committed table of `table_document()` in place."""
    kernel = tuned.from_table(make_kernel(TIMINGS, []))
    (isolated / "tuned").mkdir()
    (isolated / "tuned" / "nvidia-h100-80gb-hbm3.json").write_text(json.dumps(table_document()))
    return kernel


SEARCH_24 = [(16, 2), (16, 4), (32, 2), (32, 4)]


def test_the_table_applies_to_its_key_only(fill):
    assert prune(fill) == [(32, 4)]
    assert prune(fill, dtype=torch.float16) == SEARCH_24  # another dtype is another key
    assert prune(fill, n=100) == [(16, 2), (16, 4), (32, 2), (32, 4), (64, 2), (64, 4)]


def test_the_kernels_own_pruning_still_rules(fill, isolated):
    entry = {"key": [16, "torch.float32"], "config": {"kwargs": {"BLOCK": 64}, "num_warps": 4, "num_stages": 2}}
    (isolated / "tuned" / "nvidia-h100-80gb-hbm3.json").write_text(json.dumps(table_document(
        kernels={FILL: [entry]})))
    assert prune(fill, n=16) == [(16, 2), (16, 4)]  # BLOCK 64 is too wide for n=16: the table cannot force it


@pytest.mark.parametrize("field, value", [("gpu", "NVIDIA A100-SXM4-80GB"), ("triton", "0.0.1")])
def test_a_table_for_another_gpu_or_triton_is_ignored(fill, isolated, monkeypatch, field, value):
    path = isolated / "tuned" / "nvidia-h100-80gb-hbm3.json"
    path.write_text(json.dumps(table_document(**{field: value})))
    assert prune(fill) == SEARCH_24  # the committed file: ignored quietly
    tuned.reload()
    monkeypatch.setenv(tuned.ENV, str(path))
    with pytest.warns(UserWarning, match=value):  # named explicitly: ignored with a reason
        assert prune(fill) == SEARCH_24


def test_the_env_var_switches_the_table_off_or_names_another(fill, isolated, monkeypatch):
    monkeypatch.setenv(tuned.ENV, "0")
    assert prune(fill) == SEARCH_24
    other = isolated / "elsewhere.json"
    entry = {"key": [24, "torch.float32"], "config": {"kwargs": {"BLOCK": 16}, "num_warps": 2, "num_stages": 2}}
    other.write_text(json.dumps(table_document(kernels={FILL: [entry]})))
    monkeypatch.setenv(tuned.ENV, str(other))
    assert prune(fill) == [(16, 2)]
    monkeypatch.setenv(tuned.ENV, "1")
    assert prune(fill) == [(32, 4)]


def test_no_search_takes_one_kept_config_per_key_spread_over_the_keys(fill, monkeypatch):
    """FASTENC_AUTOTUNE=0 (the GPU check's kernel tests): one configuration per key, always one the kernel's own
    pruning kept, the same for the same key, and different keys reach different tiles."""
    monkeypatch.setenv(tuned.NO_SEARCH_ENV, "0")
    picks = {n: prune(fill, n=n) for n in range(9, 200)}
    assert all(len(p) == 1 for p in picks.values())
    assert all(p[0][0] <= max(16, triton.next_power_of_2(n)) for n, p in picks.items())  # within _too_wide's rule
    assert prune(fill, n=24) == picks[24]
    assert len({p[0] for p in picks.values()}) > 3  # of the 6 configurations
    monkeypatch.setenv(tuned.NO_SEARCH_ENV, "1")
    assert prune(fill) == [(32, 4)]  # anything else: the table, as before


def test_a_lone_configuration_is_launched_without_being_timed(device, isolated, monkeypatch):
    """FASTENC_AUTOTUNE=0, or a table's winner: one configuration left, so Triton's timing of it is skipped; a key
    that still has several is timed as before."""
    benched = []
    kernel = tuned.from_table(make_kernel(TIMINGS, benched))
    monkeypatch.setenv(tuned.NO_SEARCH_ENV, "0")
    assert launch(kernel, 100, device).sum().item() == 100
    assert benched == [] and len(kernel.cache) == 1
    monkeypatch.delenv(tuned.NO_SEARCH_ENV)
    assert launch(kernel, 24, device).sum().item() == 24
    assert len(benched) == 4  # BLOCK 16 and 32, two warp counts each


def test_no_gpu_means_no_table(fill, monkeypatch):
    monkeypatch.setattr(tuned, "current_gpu", lambda: None)
    assert prune(fill) == SEARCH_24


@pytest.mark.parametrize("text, why", [
    ("{not json", "not JSON"),
    (json.dumps({"gpu": GPU}), "format"),
    (json.dumps(table_document(kernels={FILL: [{"key": 24, "config": {}}]})), "key"),
    (json.dumps(table_document(kernels={FILL: [{"key": [24], "config": {"kwargs": {}}}]})), "num_warps"),
])
def test_a_broken_table_warns_naming_the_file_and_searches(fill, isolated, text, why):
    path = isolated / "tuned" / "nvidia-h100-80gb-hbm3.json"
    path.write_text(text)
    with pytest.warns(UserWarning, match=why) as caught:
        assert prune(fill) == SEARCH_24
    assert str(path) in str(caught[0].message)
    with pytest.raises(tuned.TableError, match=why):
        tuned.read_table(path)


def test_merge_keeps_the_first_winner_and_leaves_out_other_triton_versions():
    a = table_document()
    b = table_document(kernels={FILL: [
        {"key": [24, "torch.float32"], "config": {"kwargs": {"BLOCK": 16}, "num_warps": 2, "num_stages": 2}},
        {"key": [100, "torch.float32"], "config": {"kwargs": {"BLOCK": 64}, "num_warps": 4, "num_stages": 2}}]})
    c = table_document(triton="0.0.1", kernels={"other": a["kernels"][FILL]})
    merged, notes = tuned.merge([a, b, c])
    assert [e["config"]["kwargs"]["BLOCK"] for e in merged["kernels"][FILL]] == [64, 32]  # sorted by key text
    assert "other" not in merged["kernels"] and len(notes) == 2
    assert "Triton 0.0.1" in notes[1] and "kept" in notes[0]
    assert len(tuned.parse_table(merged, "merged")) == 2


def test_the_real_kernels_are_registered_and_dumped(monkeypatch, device):
    """The interpreter has one config per kernel, so Triton never fills their caches there: filled by hand here with
    a key shaped as attention's (its key arguments, then the dtype of each tensor argument)."""
    attention = importlib.import_module("fastenc.kernels.attention")
    disentangled_attention = importlib.import_module("fastenc.kernels.disentangled_attention")
    linear_gelu = importlib.import_module("fastenc.kernels.linear_gelu")

    names = {tuned.kernel_name(k) for k in (attention._attention_kernel, disentangled_attention._disentangled_kernel,
                                            linear_gelu._linear_gelu_kernel)}
    assert names <= set(tuned.REGISTRY)  # every autotuned kernel opted in
    kernel = attention._attention_kernel
    q = torch.randn(1, 8, 2, 16, device=device)
    attention.attention(q, q, q)
    if len(kernel.configs) == 1:
        assert kernel.cache == {}  # the interpreter path: nothing was tuned
    key = (8, 16, False, False, False, False, *["torch.bfloat16"] * 8)
    monkeypatch.setattr(kernel, "cache", {**kernel.cache, key: kernel.configs[0]})
    document = tuned.winners()
    entries = document["kernels"]["fastenc.kernels.attention._attention_kernel"]
    assert {"key": list(key), "config": tuned.config_to_json(kernel.configs[0])} in entries
    assert document["triton"] == triton.__version__ and "kernels" in json.loads(json.dumps(document))
