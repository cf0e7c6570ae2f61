"""Gated activations in one elementwise pass: act(x[..., :I]) * x[..., I:], float32 inside. One kernel, the activation
a compile-time flag: GeGLU (exact or tanh GELU, ModernBERT's feed-forward) and SwiGLU (SiLU, NomicBERT's)."""
import torch
import triton
import triton.language as tl

from ._utils import FLOAT_DTYPES, check_device, check_dtype, check_last_dim_contiguous, kernel_op
from .bias_gelu import APPROXIMATIONS, gelu

# The activations the kernel computes, by name -> its ACTIVATION flag.
GLU_ACTIVATIONS = {"gelu": 0, "gelu_tanh": 1, "silu": 2}


@triton.jit
def _glu_kernel(
    X,  # (R, 2I) rows: the activation's input, then the gate; last dimension contiguous
    Out,  # (R, I) contiguous, X's dtype
    stride_x,  # X row stride in elements
    n_cols,  # I
    ACTIVATION: tl.constexpr,  # 0 exact (erf) GELU, 1 tanh GELU, 2 SiLU (GLU_ACTIVATIONS)
    BLOCK_N: tl.constexpr,  # output columns per program
):
    # Grid (R, cdiv(I, BLOCK_N)): rows on the axis without a 65535 limit.
    row = tl.program_id(0).to(tl.int64)
    cols = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    ok = cols < n_cols
    value = tl.load(X + row * stride_x + cols, mask=ok, other=0.0).to(tl.float32)
    gate = tl.load(X + row * stride_x + n_cols + cols, mask=ok, other=0.0).to(tl.float32)
    if ACTIVATION == 2:
        act = value / (1.0 + tl.exp(-value))  # x * sigmoid(x); exp overflows to inf for x << 0, giving -0
    else:
        act = gelu(value, ACTIVATION == 1)
    tl.store(Out + row * n_cols + cols, (act * gate).to(Out.dtype.element_ty), mask=ok)


@kernel_op("glu")
def _glu_op(x: torch.Tensor, activation: str) -> torch.Tensor:
    n_cols = x.shape[-1] // 2
    out = torch.empty((*x.shape[:-1], n_cols), dtype=x.dtype, device=x.device)
    x2 = x.reshape(-1, x.shape[-1])  # (R, 2I): a view whenever the leading dimensions allow one
    if x2.shape[0] == 0 or n_cols == 0:
        return out
    block_n = min(1024, triton.next_power_of_2(n_cols))
    grid = (x2.shape[0], triton.cdiv(n_cols, block_n))
    _glu_kernel[grid](
        x2, out, x2.stride(0), n_cols,
        ACTIVATION=GLU_ACTIVATIONS[activation], BLOCK_N=block_n, num_warps=4 if block_n >= 512 else 2,
    )
    return out


@_glu_op.register_fake
def _(x, activation):
    return x.new_empty((*x.shape[:-1], x.shape[-1] // 2))


def glu(x, activation: str = "gelu", *, check: bool = True):
    """act(x[..., :I]) * x[..., I:]; same contract as `fastenc.ops.reference.glu`.

    x (..., 2I) fp16/bf16/fp32 with a contiguous last dimension of even size; activation one of GLU_ACTIVATIONS
    ("gelu", "gelu_tanh", "silu"). Returns (..., I) in x's dtype, computed in float32. `check=False` skips the
    argument checks, for callers (the model) that validated inputs once.
    """
    if check:
        if activation not in GLU_ACTIVATIONS:
            raise ValueError(f"activation must be one of {tuple(GLU_ACTIVATIONS)}, got {activation!r}")
        _check(x)
    return _glu_op(x, activation)


def geglu(x, approximate: str = "none", *, check: bool = True):
    """gelu(x[..., :I]) * x[..., I:]: `glu` with exact (approximate="none") or tanh GELU; same contract as
    `fastenc.ops.reference.geglu`."""
    if check:
        if approximate not in APPROXIMATIONS:
            raise ValueError(f"approximate must be one of {APPROXIMATIONS}, got {approximate!r}")
        _check(x)
    return _glu_op(x, "gelu_tanh" if approximate == "tanh" else "gelu")


def _check(x) -> None:
    check_device("x", x)
    check_dtype("x", x, FLOAT_DTYPES)
    if x.dim() == 0 or x.shape[-1] % 2:
        raise ValueError(f"x has shape {tuple(x.shape)}; expected (..., 2I): the activation's input, then the gate")
    check_last_dim_contiguous("x", x)
