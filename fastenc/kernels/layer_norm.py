"""LayerNorm over the last dimension of `x + residual`, one read and one write per element, float32 statistics."""
from typing import Optional

import torch
import triton
import triton.language as tl

from ._utils import (FLOAT_DTYPES, check_device, check_dtype, check_last_dim_contiguous, check_rows, check_shape,
                     kernel_op, row_settings)


@triton.jit
def normalize_row(x, ok, cols, n_cols, W, B, eps):
    """One float32 row (BLOCK_N,), zero where not `ok` -> (x - mean) / std * w + b in float32."""
    mean = tl.sum(x, axis=0) / n_cols
    xc = tl.where(ok, x - mean, 0.0)
    rstd = 1.0 / tl.sqrt(tl.sum(xc * xc, axis=0) / n_cols + eps)
    w = tl.load(W + cols, mask=ok, other=0.0).to(tl.float32)
    b = tl.load(B + cols, mask=ok, other=0.0).to(tl.float32)
    return xc * rstd * w + b


@triton.jit
def _layer_norm_kernel(
    X,  # (R, N) input rows, last dimension contiguous
    Residual,  # (R, N) added to X before normalising; read only if HAS_RESIDUAL
    W, B,  # (N,) scale and shift
    Out,  # (R, N) contiguous, X's dtype
    stride_x,  # X row stride in elements
    stride_r,  # Residual row stride
    stride_o,  # Out row stride
    n_cols,  # N
    eps,  # added to the variance
    HAS_RESIDUAL: tl.constexpr,
    BLOCK_N: tl.constexpr,  # next power of two >= N: one program holds the whole row
):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK_N)
    ok = cols < n_cols
    x = tl.load(X + row * stride_x + cols, mask=ok, other=0.0).to(tl.float32)
    if HAS_RESIDUAL:
        x += tl.load(Residual + row * stride_r + cols, mask=ok, other=0.0).to(tl.float32)
    y = normalize_row(x, ok, cols, n_cols, W, B, eps)
    tl.store(Out + row * stride_o + cols, y.to(Out.dtype.element_ty), mask=ok)


@kernel_op("layer_norm")
def _layer_norm_op(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float, residual: Optional[torch.Tensor]
) -> torch.Tensor:
    out = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    n_cols = x.shape[-1]
    x2 = x.reshape(-1, n_cols)  # (R, N): a view whenever the leading dimensions allow one
    if x2.shape[0] == 0:
        return out
    has_residual = residual is not None
    residual2 = residual.reshape(-1, n_cols) if has_residual else x2  # (R, N); x2 is a placeholder, never read
    block_n, num_warps = row_settings(n_cols)
    _layer_norm_kernel[(x2.shape[0],)](
        x2, residual2, weight, bias, out,
        x2.stride(0), residual2.stride(0), n_cols,
        n_cols, eps,
        HAS_RESIDUAL=has_residual, BLOCK_N=block_n, num_warps=num_warps,
    )
    return out


@_layer_norm_op.register_fake
def _(x, weight, bias, eps, residual):
    return x.new_empty(x.shape)


def check_norm_params(weight, bias, n: int, like: torch.Tensor, names=("weight", "bias")) -> None:
    """weight and bias: (n,) float vectors on `like`'s device; `names` as the caller's signature spells them."""
    for name, t in zip(names, (weight, bias)):
        check_device(name, t, like=like)
        check_dtype(name, t, FLOAT_DTYPES)
        check_shape(name, t, (n,))
        if n > 1 and t.stride(0) != 1:
            raise ValueError(f"{name} must be contiguous, got stride {t.stride(0)}")


def layer_norm(x, weight, bias, eps: float, residual=None, *, check: bool = True):
    """LayerNorm over the last dimension of `x + residual`; same contract as `fastenc.ops.reference.layer_norm`.

    x (..., N) fp16/bf16/fp32 with a contiguous last dimension; residual like x (same shape and dtype); weight and
    bias (N,) in any float dtype. The sum and the statistics are float32; the result has x's dtype and shape.
    `check=False` skips the argument checks, for callers (the model) that validated their inputs once per forward.
    """
    if check:
        _check(x, weight, bias, residual)
    return _layer_norm_op(x, weight, bias, float(eps), residual)


def _check(x, weight, bias, residual) -> None:
    check_rows("x", x)
    row_settings(x.shape[-1])  # rejects rows too wide for one program, before any launch
    check_norm_params(weight, bias, x.shape[-1], like=x)
    if residual is not None:
        check_device("residual", residual, like=x)
        if residual.dtype != x.dtype:
            raise TypeError(f"residual has dtype {residual.dtype}; expected x's dtype {x.dtype}")
        check_shape("residual", residual, tuple(x.shape))
        check_last_dim_contiguous("residual", residual)
