"""gelu(x @ weight.T + bias) in one matrix product: the bias and the GELU (exact erf or tanh) applied to the float32
accumulator before the single store, so the FFN's (tokens, intermediate) activation is written once, never re-read."""
import functools

import torch
import triton
import triton.language as tl

from ._utils import (FLOAT_DTYPES, INTERPRET, check_device, check_dtype, check_last_dim_contiguous, check_rows,
                     check_shape, kernel_op)
from .bias_gelu import APPROXIMATIONS, gelu
from .tuned import from_table

# Rows are tuned by bucket, not by count: every packed batch has its own token count, and re-tuning per batch would
# cost seconds each time. Past MAX_M_BUCKET rows the grid is many waves deep on an H100/H200 and the best tile no
# longer changes; below MIN_M_BUCKET every count gets the same small-batch choice.
MIN_M_BUCKET = 16
MAX_M_BUCKET = 8192


def m_bucket(rows: int) -> int:
    """The autotune key standing for `rows` rows: the next power of two, clamped to [MIN_M_BUCKET, MAX_M_BUCKET]."""
    return max(MIN_M_BUCKET, min(triton.next_power_of_2(rows), MAX_M_BUCKET))


def _configs():
    if INTERPRET:  # one small config: autotuning in the interpreter costs minutes; small blocks still hit every mask
        return [triton.Config({"BLOCK_M": 32, "BLOCK_N": 32, "BLOCK_K": 32, "GROUP_M": 2}, num_warps=4,
                              num_stages=1)]
    # (BLOCK_M, BLOCK_N, BLOCK_K, num_stages, num_warps) for Hopper's warp-group MMA; 128 x 256 x 64 at 3 stages holds
    # 144 KiB of 16-bit tiles in shared memory (of 227), 4 stages of 128 x 128 x 64 hold 128 KiB.
    tiles = [
        (128, 256, 64, 3, 8),
        (128, 128, 64, 4, 8),
        (128, 128, 64, 3, 4),
        (128, 64, 64, 4, 4),
        (64, 256, 64, 4, 4),
        (64, 128, 64, 4, 4),
        (64, 64, 64, 4, 4),
        (64, 64, 32, 3, 4),  # the only fp32 tile: ieee products run on the FMA units, four-byte tiles
    ]
    return [triton.Config({"BLOCK_M": m, "BLOCK_N": n, "BLOCK_K": k, "GROUP_M": 8}, num_stages=s, num_warps=w)
            for m, n, k, s, w in tiles]


@functools.cache
def _sm_count(device: torch.device) -> int:
    return torch.cuda.get_device_properties(device).multi_processor_count


def _prune(configs, named_args, **kwargs):
    """fp32 takes its one tile. 16-bit inputs: the smallest tile alone when even it makes no more programs than the
    GPU has SMs (a larger one would leave SMs idle: nothing to tune); else every tile, less 128-row tiles for batches
    of at most 64 rows (half of each would be padding) and 256-column tiles for narrow outputs."""
    args = {**named_args, **kwargs}
    if args["IS_FP32"]:
        return [c for c in configs if c.kwargs["BLOCK_K"] == 32]
    tiles = [c for c in configs if c.kwargs["BLOCK_K"] != 32]
    smallest = min(tiles, key=lambda c: c.kwargs["BLOCK_M"] * c.kwargs["BLOCK_N"])
    rows, cols = args["M_BUCKET"], args["N"]
    programs = triton.cdiv(rows, smallest.kwargs["BLOCK_M"]) * triton.cdiv(cols, smallest.kwargs["BLOCK_N"])
    if programs <= _sm_count(args["X"].device):
        return [smallest]
    kept = [c for c in tiles
            if (rows > 64 or c.kwargs["BLOCK_M"] == 64) and (cols > 128 or c.kwargs["BLOCK_N"] <= 128)]
    return kept or [smallest]


@from_table  # a committed winner per key where fastenc/kernels/tuned_tables/ has this GPU's table
@triton.autotune(
    configs=_configs(),
    key=["M_BUCKET", "N", "K"],  # and, added by Triton, the dtype of every tensor argument
    prune_configs_by={"early_config_prune": _prune},
    cache_results=True,
)
@triton.heuristics({"EVEN_K": lambda args: args["K"] % args["BLOCK_K"] == 0})
@triton.jit
def _linear_gelu_kernel(
    X,  # (M, K) rows, last dimension contiguous
    W,  # (N, K) as nn.Linear stores it, last dimension contiguous
    Bias,  # (N,) any float dtype
    Out,  # (M, N) contiguous, X's dtype
    M, N, K,  # the product's sizes: Out = X @ W^T
    stride_xm,  # X row stride in elements
    stride_wn,  # W row stride in elements
    M_BUCKET,  # m_bucket(M); an autotune key only
    TANH: tl.constexpr,  # tanh approximation instead of erf
    IS_FP32: tl.constexpr,  # fp32 inputs: full-precision dot products (no tf32)
    EVEN_K: tl.constexpr,  # K is a multiple of BLOCK_K: the K loop needs no mask
    BLOCK_M: tl.constexpr,  # output rows per program
    BLOCK_N: tl.constexpr,  # output columns per program
    BLOCK_K: tl.constexpr,  # reduction step
    GROUP_M: tl.constexpr,  # row blocks per group of the launch order
):
    # Launch order: groups of GROUP_M row blocks, columns outermost within a group. The programs running together then
    # share a few row blocks of X and column blocks of W, which stay in L2, instead of sweeping all of W per row block.
    pid = tl.program_id(0)
    num_m = tl.cdiv(M, BLOCK_M)
    num_n = tl.cdiv(N, BLOCK_N)
    per_group = GROUP_M * num_n
    first_m = (pid // per_group) * GROUP_M
    group_rows = tl.minimum(num_m - first_m, GROUP_M)  # the last group may be short
    pid_m = first_m + (pid % per_group) % group_rows
    pid_n = (pid % per_group) // group_rows
    m0 = pid_m * BLOCK_M
    n0 = pid_n * BLOCK_N

    offs_m = tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    # Rows and columns past the end re-read the last one: every load stays in bounds with no mask inside the loop, and
    # the store below drops them.
    rows = tl.minimum(offs_m, M - 1 - m0)
    cols = tl.minimum(offs_n, N - 1 - n0)
    # 64-bit base offsets (M * K may pass 2**31 elements); in-tile offsets stay 32-bit.
    x_ptrs = X + m0.to(tl.int64) * stride_xm + rows[:, None] * stride_xm + offs_k[None, :]  # (BLOCK_M, BLOCK_K)
    w_ptrs = W + n0.to(tl.int64) * stride_wn + cols[None, :] * stride_wn + offs_k[:, None]  # (BLOCK_K, BLOCK_N): W^T

    acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        if EVEN_K:
            x = tl.load(x_ptrs)
            w = tl.load(w_ptrs)
        else:
            k_ok = offs_k < K - k0
            x = tl.load(x_ptrs, mask=k_ok[None, :], other=0.0)
            w = tl.load(w_ptrs, mask=k_ok[:, None], other=0.0)
        if IS_FP32:
            acc = tl.dot(x, w, acc, input_precision="ieee")
        else:
            acc = tl.dot(x, w, acc)
        x_ptrs += BLOCK_K
        w_ptrs += BLOCK_K

    acc += tl.load(Bias + n0 + cols).to(tl.float32)[None, :]
    y = gelu(acc, TANH)
    out_ptrs = Out + m0.to(tl.int64) * N + n0 + offs_m[:, None] * N + offs_n[None, :]  # (BLOCK_M, BLOCK_N)
    ok = ((m0 + offs_m) < M)[:, None] & ((n0 + offs_n) < N)[None, :]
    tl.store(out_ptrs, y.to(Out.dtype.element_ty), mask=ok)


@kernel_op("linear_gelu")
def _linear_gelu_op(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, approximate: str) -> torch.Tensor:
    K, N = x.shape[-1], weight.shape[0]
    out = torch.empty((*x.shape[:-1], N), dtype=x.dtype, device=x.device)
    x2 = x.reshape(-1, K)  # (M, K): a view whenever the leading dimensions allow one
    M = x2.shape[0]
    if M == 0 or N == 0:
        return out

    def grid(meta):
        return (triton.cdiv(M, meta["BLOCK_M"]) * triton.cdiv(N, meta["BLOCK_N"]),)

    _linear_gelu_kernel[grid](
        x2, weight, bias, out, M, N, K, x2.stride(0), weight.stride(0), m_bucket(M),
        TANH=approximate == "tanh", IS_FP32=x.dtype == torch.float32,
    )
    return out


@_linear_gelu_op.register_fake
def _(x, weight, bias, approximate):
    return x.new_empty((*x.shape[:-1], weight.shape[0]))


def linear_gelu(x, weight, bias, approximate: str = "none", *, check: bool = True):
    """gelu(x @ weight.T + bias); same contract as `fastenc.ops.reference.linear_gelu`.

    x (..., K) fp16/bf16/fp32 with a contiguous last dimension (packed (N, K) or padded (B, T, K)); weight (I, K) in
    x's dtype, as nn.Linear stores it; bias (I,) in any float dtype. The product accumulates in float32 (ieee for
    fp32 inputs), the bias and GELU are applied to the accumulator, and the result has x's dtype, shape (..., I). The
    first call per (row bucket `m_bucket`, K, I, dtypes) autotunes on a GPU: make it before capturing a CUDA graph.
    `check=False` skips the argument checks, for callers (the model) that validated their inputs once per forward.
    """
    if check:
        _check(x, weight, bias, approximate)
    return _linear_gelu_op(x, weight, bias, approximate)


def _check(x, weight, bias, approximate) -> None:
    if approximate not in APPROXIMATIONS:
        raise ValueError(f"approximate must be one of {APPROXIMATIONS}, got {approximate!r}")
    check_rows("x", x, "K")
    check_device("weight", weight, like=x)
    if weight.dtype != x.dtype:
        raise TypeError(f"weight has dtype {weight.dtype}; expected x's dtype {x.dtype}")
    check_shape("weight", weight, (None, x.shape[-1]))
    check_last_dim_contiguous("weight", weight)
    check_device("bias", bias, like=x)
    check_dtype("bias", bias, FLOAT_DTYPES)
    check_shape("bias", bias, (weight.shape[0],))
    check_last_dim_contiguous("bias", bias)
