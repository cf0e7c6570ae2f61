"""The runners of the CPU peer benchmark (bench_cpu_peers.py): fastenc and each peer engine behind one interface.

A runner takes right-padded numpy (ids, mask) batches: `feed` converts them to what the engine takes (not timed),
`run` is the timed model call, `hidden` turns its result into (B, T, H) float32. `job` embeds a list of texts the way
a careful user of that engine does (mean pooling, normalized). Every peer is imported only when it is built, so this
file imports without them; a peer that is missing or fails to build is skipped with the reason.
"""
import importlib
import os
from pathlib import Path

import numpy as np
import torch

JOB_BATCH = 32  # the peers' batching in the job: length-sorted batches of this many texts
NAMES = ("fastenc", "fastenc-bf16", "transformers-sdpa", "ort", "ort-optimized", "openvino-fp32", "openvino-bf16",
         "ctranslate2")
# The packages each peer needs (the `bench` extra), checked before building it.
REQUIRES = {"ort": ("onnx", "onnxruntime"), "ort-optimized": ("onnx", "onnxruntime"),
            "openvino-fp32": ("onnx", "openvino"), "openvino-bf16": ("onnx", "openvino"),
            "ctranslate2": ("ctranslate2",)}
INSTALL_HINT = "pip install -e '.[bench]' (make bench-peers)"


def pad(rows, pad_id: int):
    """Token-id lists -> right-padded (ids, mask), both (B, T) int64, T the longest row."""
    ids = np.full((len(rows), max(len(r) for r in rows)), pad_id, dtype=np.int64)
    mask = np.zeros_like(ids)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = row
        mask[i, :len(row)] = 1
    return ids, mask


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(B, T, H) and (B, T) -> (B, H): the average over real tokens, as sentence-transformers pools."""
    weights = mask[..., None].astype(np.float32)  # (B, T, 1)
    return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)


def normalize(rows: np.ndarray) -> np.ndarray:
    return rows / np.maximum(np.linalg.norm(rows, axis=-1, keepdims=True), 1e-12)


class Runner:
    """Base: the peers' job is tokenize (transformers' fast tokenizer), sort by length, batches of JOB_BATCH padded
    to their longest, run, mean-pool, normalize."""

    name, precision = "", "fp32"
    batching = f"length-sorted batches of {JOB_BATCH}, each padded to its longest"

    def feed(self, ids: np.ndarray, mask: np.ndarray):
        return ids, mask

    def run(self, feed):
        raise NotImplementedError

    def hidden(self, out) -> np.ndarray:
        return np.asarray(out, dtype=np.float32)

    def job(self, texts, tokenizer, max_length: int) -> np.ndarray:
        rows = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        out = None
        for start in range(0, len(order), JOB_BATCH):
            picked = order[start:start + JOB_BATCH]
            ids, mask = pad([rows[i] for i in picked], tokenizer.pad_token_id)
            pooled = mean_pool(self.hidden(self.run(self.feed(ids, mask))), mask)  # (b, H)
            if out is None:
                out = np.empty((len(rows), pooled.shape[1]), dtype=np.float32)
            out[picked] = pooled
        return normalize(out)


class Fastenc(Runner):
    name = "fastenc"
    batching = "embed() defaults (its length-sorted token-budget batches)"

    def __init__(self, folder: Path, precision: str = "fp32"):
        import fastenc

        self.name, self.precision = ("fastenc", "fp32") if precision == "fp32" else ("fastenc-bf16", "bf16")
        self.model = fastenc.load(folder, device="cpu", dtype=torch.float32 if precision == "fp32" else torch.bfloat16)

    def feed(self, ids, mask):
        return torch.from_numpy(ids), torch.from_numpy(mask)

    def run(self, feed):
        return self.model(feed[0], attention_mask=feed[1]).last_hidden_state

    def hidden(self, out):
        return out.float().numpy()

    def job(self, texts, tokenizer, max_length):  # fastenc's own tokenizer and batching: what its users call
        return self.model.embed(list(texts), pooling="mean", normalize=True).numpy()


class Transformers(Runner):
    """transformers fp32 with attn_implementation="sdpa". Also the error yardstick with attn="eager"."""

    def __init__(self, folder: Path, attn: str = "sdpa"):
        import transformers

        self.name = f"transformers-{attn}"
        self.model = transformers.AutoModel.from_pretrained(folder, attn_implementation=attn).eval()

    def feed(self, ids, mask):
        return torch.from_numpy(ids), torch.from_numpy(mask)

    def run(self, feed):
        with torch.inference_mode():
            return self.model(input_ids=feed[0], attention_mask=feed[1]).last_hidden_state

    def hidden(self, out):
        return out.float().numpy()


class _LastHidden(torch.nn.Module):
    """The transformers model with last_hidden_state as its only output (what the exported graph computes)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.model(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=token_type_ids).last_hidden_state


ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def export_onnx(folder: Path, path: Path) -> Path:
    """torch.onnx.export (TorchScript exporter, opset 17, dynamic batch and length) of a fresh eager-attention copy
    of the model: the exporter leaves the model it traced unusable, and eager attention gives the graph pattern that
    onnxruntime's transformer optimizer fuses."""
    import transformers

    model = transformers.AutoModel.from_pretrained(folder, attn_implementation="eager").eval()
    ids = np.full((2, 8), 1000, dtype=np.int64)
    mask = np.ones_like(ids)
    mask[1, 5:] = 0
    example = tuple(torch.from_numpy(a) for a in (ids, mask, np.zeros_like(ids)))
    axes = {name: {0: "batch", 1: "sequence"} for name in (*ONNX_INPUTS, "last_hidden_state")}
    torch.onnx.export(_LastHidden(model), example, str(path), dynamo=False, input_names=list(ONNX_INPUTS),
                      output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=17)
    return path


def _onnx_feed(ids, mask):
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


class OnnxRuntime(Runner):
    def __init__(self, onnx_path: Path, threads: int, name: str):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.name = name
        self.session = onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])

    def feed(self, ids, mask):
        return _onnx_feed(ids, mask)

    def run(self, feed):
        return self.session.run(None, feed)[0]


def optimize_onnx(onnx_path: Path, out_path: Path, config) -> Path:
    """onnxruntime.transformers.optimizer with model_type="bert": fused embeddings + LayerNorm, attention,
    bias + GELU, skip + LayerNorm, as its documentation runs it for BERT."""
    from onnxruntime.transformers.optimizer import optimize_model

    optimized = optimize_model(str(onnx_path), model_type="bert", num_heads=config.num_attention_heads,
                               hidden_size=config.hidden_size, use_gpu=False)
    optimized.save_model_to_file(str(out_path))
    return out_path


class OpenVino(Runner):
    """The plain ONNX export read by OpenVINO, compiled for the CPU with an explicit inference precision hint."""

    def __init__(self, onnx_path: Path, threads: int, precision: str):
        import openvino

        core = openvino.Core()
        self.name, self.precision = f"openvino-{precision}", precision
        self.compiled = core.compile_model(core.read_model(str(onnx_path)), "CPU", {
            "INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": {"fp32": "f32", "bf16": "bf16"}[precision]})
        got = str(self.compiled.get_property("INFERENCE_PRECISION_HINT"))
        if precision == "bf16" and "bf16" not in got and "bfloat16" not in got:
            raise RuntimeError(f"OpenVINO runs {got} here, not bf16 (the CPU lacks bf16 support)")
        self.request = self.compiled.create_infer_request()

    def feed(self, ids, mask):
        return _onnx_feed(ids, mask)

    def run(self, feed):
        return self.request.infer(feed)[0]

    def hidden(self, out):
        return np.array(out, dtype=np.float32)  # copy: the request reuses its output buffer


class CTranslate2(Runner):
    """ctranslate2.converters.TransformersConverter (fp32, no quantization), run through ctranslate2.Encoder, which
    takes unpadded id lists and pads them itself."""

    name = "ctranslate2"

    def __init__(self, folder: Path, out_dir: Path, threads: int):
        import ctranslate2

        ctranslate2.converters.TransformersConverter(str(folder)).convert(str(out_dir), force=True)
        self.encoder = ctranslate2.Encoder(str(out_dir), device="cpu", compute_type="float32",
                                           intra_threads=threads, inter_threads=1)

    def feed(self, ids, mask):
        return [row[:n].tolist() for row, n in zip(ids, mask.sum(axis=1))]

    def run(self, feed):
        return self.encoder.forward_batch(feed).last_hidden_state

    def hidden(self, out):
        return np.array(out, dtype=np.float32)


def build(names, folder: Path, workdir: Path, threads: int, config):
    """({name: runner} in NAMES order, {name: reason skipped}). The ONNX export is shared by ort, ort-optimized and
    openvino-*, made once on first need."""
    runners, skipped, onnx = {}, {}, {}

    def plain_onnx():
        if "plain" not in onnx:
            onnx["plain"] = export_onnx(folder, workdir / "model.onnx")
        return onnx["plain"]

    makers = {
        "fastenc": lambda: Fastenc(folder),
        "fastenc-bf16": lambda: Fastenc(folder, "bf16"),
        "transformers-sdpa": lambda: Transformers(folder, "sdpa"),
        "ort": lambda: OnnxRuntime(plain_onnx(), threads, "ort"),
        "ort-optimized": lambda: OnnxRuntime(optimize_onnx(plain_onnx(), workdir / "model-opt.onnx", config),
                                             threads, "ort-optimized"),
        "openvino-fp32": lambda: OpenVino(plain_onnx(), threads, "fp32"),
        "openvino-bf16": lambda: OpenVino(plain_onnx(), threads, "bf16"),
        "ctranslate2": lambda: CTranslate2(folder, workdir / "ct2", threads),
    }
    for name in (n for n in NAMES if n in names):
        try:
            for module in REQUIRES.get(name, ()):  # before any export or conversion work
                importlib.import_module(module)
            runners[name] = makers[name]()
        except ImportError as e:
            skipped[name] = f"not installed ({e.name or e}): {INSTALL_HINT}"
        except Exception as e:  # a peer that cannot convert or load this model is reported, not fatal
            skipped[name] = f"build failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    return runners, skipped


def set_threads(threads: int) -> None:
    """torch's intra-op threads and fastenc's tokenizer pool (read once, at first use); the peers get theirs in
    build()."""
    torch.set_num_threads(threads)
    os.environ["FASTENC_NUM_THREADS"] = str(threads)
