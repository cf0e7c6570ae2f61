"""GeGLU in one elementwise pass: gelu(x[..., :I]) * x[..., I:] (ModernBERT's feed-forward), float32 inside."""
import torch
import triton
import triton.language as tl

from ._utils import FLOAT_DTYPES, check_device, check_dtype, check_last_dim_contiguous
from .bias_gelu import APPROXIMATIONS, gelu


@triton.jit
def _geglu_kernel(
    X,  # (R, 2I) rows: the GELU input, then the gate; last dimension contiguous
    Out,  # (R, I) contiguous, X's dtype
    stride_x,  # X row stride in elements
    n_cols,  # I
    TANH: tl.constexpr,  # tanh approximation instead of erf
    BLOCK_N: tl.constexpr,  # output columns per program
):
    # Grid (R, cdiv(I, BLOCK_N)): rows on the axis without a 65535 limit.
    row = tl.program_id(0).to(tl.int64)
    cols = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    ok = cols < n_cols
    value = tl.load(X + row * stride_x + cols, mask=ok, other=0.0).to(tl.float32)
    gate = tl.load(X + row * stride_x + n_cols + cols, mask=ok, other=0.0).to(tl.float32)
    y = gelu(value, TANH) * gate
    tl.store(Out + row * n_cols + cols, y.to(Out.dtype.element_ty), mask=ok)


@torch.library.custom_op("fastenc::geglu", mutates_args=())
def _geglu_op(x: torch.Tensor, approximate: str) -> torch.Tensor:
    n_cols = x.shape[-1] // 2
    out = torch.empty((*x.shape[:-1], n_cols), dtype=x.dtype, device=x.device)
    x2 = x.reshape(-1, x.shape[-1])  # (R, 2I): a view whenever the leading dimensions allow one
    if x2.shape[0] == 0 or n_cols == 0:
        return out
    block_n = min(1024, triton.next_power_of_2(n_cols))
    grid = (x2.shape[0], triton.cdiv(n_cols, block_n))
    _geglu_kernel[grid](
        x2, out, x2.stride(0), n_cols,
        TANH=approximate == "tanh", BLOCK_N=block_n, num_warps=4 if block_n >= 512 else 2,
    )
    return out


@_geglu_op.register_fake
def _(x, approximate):
    return x.new_empty((*x.shape[:-1], x.shape[-1] // 2))


def geglu(x, approximate: str = "none", *, check: bool = True):
    """gelu(x[..., :I]) * x[..., I:]; same contract as `fastenc.ops.reference.geglu`.

    x (..., 2I) fp16/bf16/fp32 with a contiguous last dimension of even size; returns (..., I) in x's dtype, computed
    in float32. `check=False` skips the argument checks, for callers (the model) that validated inputs once.
    """
    if check:
        if approximate not in APPROXIMATIONS:
            raise ValueError(f"approximate must be one of {APPROXIMATIONS}, got {approximate!r}")
        check_device("x", x)
        check_dtype("x", x, FLOAT_DTYPES)
        if x.dim() == 0 or x.shape[-1] % 2:
            raise ValueError(f"x has shape {tuple(x.shape)}; expected (..., 2I): the GELU input, then the gate")
        check_last_dim_contiguous("x", x)
    return _geglu_op(x, approximate)
