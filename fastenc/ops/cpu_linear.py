"""Linear layers on the CPU through oneDNN: weights prepacked once, the residual add fused into the product.

PyTorch's `F.linear` on the CPU goes to MKL (fp32) or oneDNN (bf16) and leaves the residual add to a separate pass over
the (tokens x features) output, a round trip through memory plus a fresh allocation. oneDNN's `_linear_pointwise` runs
the same product on a weight reordered once into its blocked layout and adds the residual while the output tile is
still in registers. In fp32, GELU is applied in place after the product, not in oneDNN's epilogue: that epilogue
approximates erf (3x transformers' fp32 error on ALBERT's twelve shared layers). In bf16 the erf epilogue is used: its
error is far below bf16's rounding, and it ran the bf16 MiniLM job x1.22 faster than the separate pass (ATen's bf16
GELU was a quarter of the job; benchmarks/CPU_PROFILE.md).
The accumulation is fp32 in both dtypes (bf16 products on avx512_bf16 / AMX). Where oneDNN is missing, or bf16 is
asked for on a CPU without native bf16, the same calls fall back to `F.linear` plus the separate pass: same results
to rounding, only slower.
"""
import torch
import torch.nn.functional as F

# The M (token count) oneDNN picks the packed layout for; any other M runs on it too.
PACK_BATCH_HINT = 2048


def onednn_dtype_ok(dtype: torch.dtype) -> bool:
    """oneDNN runs this dtype natively here: fp32 anywhere it is built, bf16 only with avx512_bf16 / AMX."""
    if not torch.backends.mkldnn.is_available():
        return False
    if dtype == torch.float32:
        return True
    return dtype == torch.bfloat16 and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


class PackedLinear:
    """y = x @ weight.T + bias, then optionally gelu(y) (in place) or y + residual (fused), for x (..., in) on the CPU.

    `weight` (out, in) and `bias` (out,) are the layer's parameters; the packed copy is checked against them on every
    call (same storage, dtype and device), so a model moved or cast after packing falls back instead of reading stale
    weights.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None):
        self.weight, self.bias = weight, bias
        self.source = (weight.data_ptr(), weight.dtype, weight.device)
        self.packed = None
        if weight.device.type == "cpu" and onednn_dtype_ok(weight.dtype):
            try:
                self.packed = torch.ops.mkldnn._reorder_linear_weight(weight.detach(), PACK_BATCH_HINT)
            except (RuntimeError, AttributeError):  # a build whose oneDNN lacks these ops (e.g. some non-x86 CPUs)
                self.packed = None

    def fresh(self) -> bool:
        w = self.weight
        return (w.data_ptr(), w.dtype, w.device) == self.source

    def __call__(self, x: torch.Tensor, gelu: str | None = None, residual: torch.Tensor | None = None):
        """gelu: None (no activation), "none" (exact erf GELU) or "tanh"; residual: a tensor shaped like the output."""
        if self.packed is None or x.dtype != self.weight.dtype or x.device.type != "cpu":
            return self._unfused(x, gelu, residual)
        if residual is not None:
            return torch.ops.mkldnn._linear_pointwise.binary(x, residual, self.packed, self.bias, "add")
        if gelu == "none" and x.dtype == torch.bfloat16:
            # bf16: oneDNN's erf-GELU epilogue, applied while the tile is in registers. Its erf is an approximation
            # that fp32 parity cannot afford (ALBERT, above), but far below bf16's rounding.
            return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "gelu", [], "none")
        y = torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", [], "")
        # In place: the output is ours, so no second (tokens x features) buffer; exact erf as transformers computes.
        return torch.ops.aten.gelu_(y, approximate=gelu) if gelu is not None else y

    def _unfused(self, x, gelu, residual):
        y = F.linear(x, self.weight, self.bias)
        if gelu is not None:
            return F.gelu(y, approximate=gelu)
        return y + residual if residual is not None else y
