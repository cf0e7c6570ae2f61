"""gelu(x + bias) in one elementwise pass: exact (erf) or the tanh approximation, computed in float32."""
import torch
import triton
import triton.language as tl

from ._utils import (FLOAT_DTYPES, check_device, check_dtype, check_last_dim_contiguous, check_rows, check_shape,
                     kernel_op)

APPROXIMATIONS = ("none", "tanh")
_SQRT_HALF = tl.constexpr(0.7071067811865476)  # 1 / sqrt(2)
_SQRT_2_OVER_PI = tl.constexpr(0.7978845608028654)  # sqrt(2 / pi)


@triton.jit
def gelu(x, TANH: tl.constexpr):
    """GELU of a float32 block: exact (erf) or, with TANH, the tanh approximation. Shared with the GeGLU kernel."""
    if TANH:
        # 0.5 * (1 + tanh(u)) = sigmoid(2u), from e = exp(-2|u|) <= 1: no overflow, both tails keep their digits.
        u = _SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)
        e = tl.exp(-2.0 * tl.abs(u))
        y = x * tl.where(u >= 0, 1.0, e) / (1.0 + e)
    else:
        y = 0.5 * x * (1.0 + tl.math.erf(x * _SQRT_HALF))
    return y


@triton.jit
def _bias_gelu_kernel(
    X,  # (R, N) rows, last dimension contiguous
    Bias,  # (N,)
    Out,  # (R, N) contiguous, X's dtype
    stride_x,  # X row stride in elements
    n_cols,  # N
    TANH: tl.constexpr,  # tanh approximation instead of erf
    BLOCK_N: tl.constexpr,  # columns per program
):
    # Grid (R, cdiv(N, BLOCK_N)): rows on the axis without a 65535 limit.
    row = tl.program_id(0).to(tl.int64)
    cols = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    ok = cols < n_cols
    x = tl.load(X + row * stride_x + cols, mask=ok, other=0.0).to(tl.float32)
    x += tl.load(Bias + cols, mask=ok, other=0.0).to(tl.float32)
    y = gelu(x, TANH)
    tl.store(Out + row * n_cols + cols, y.to(Out.dtype.element_ty), mask=ok)


@kernel_op("bias_gelu")
def _bias_gelu_op(x: torch.Tensor, bias: torch.Tensor, approximate: str) -> torch.Tensor:
    out = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    n_cols = x.shape[-1]
    x2 = x.reshape(-1, n_cols)  # (R, N): a view whenever the leading dimensions allow one
    if x2.shape[0] == 0:
        return out
    block_n = min(1024, triton.next_power_of_2(n_cols))
    grid = (x2.shape[0], triton.cdiv(n_cols, block_n))
    _bias_gelu_kernel[grid](
        x2, bias, out, x2.stride(0), n_cols,
        TANH=approximate == "tanh", BLOCK_N=block_n, num_warps=4 if block_n >= 512 else 2,
    )
    return out


@_bias_gelu_op.register_fake
def _(x, bias, approximate):
    return x.new_empty(x.shape)


def bias_gelu(x, bias, approximate: str = "none", *, check: bool = True):
    """gelu(x + bias); same contract as `fastenc.ops.reference.bias_gelu`.

    x (..., N) fp16/bf16/fp32 with a contiguous last dimension, bias (N,) in any float dtype; the sum and the GELU are
    float32, the result has x's dtype and shape. `check=False` skips the argument checks, for callers (the model)
    that validated their inputs once per forward.
    """
    if check:
        _check(x, bias, approximate)
    return _bias_gelu_op(x, bias, approximate)


def _check(x, bias, approximate) -> None:
    if approximate not in APPROXIMATIONS:
        raise ValueError(f"approximate must be one of {APPROXIMATIONS}, got {approximate!r}")
    check_rows("x", x)
    check_device("bias", bias, like=x)
    check_dtype("bias", bias, FLOAT_DTYPES)
    check_shape("bias", bias, (x.shape[-1],))
    check_last_dim_contiguous("bias", bias)
