"""RoPE fused with the QKV split: read a token's fused (3, nh, hd) projection once, write Q and K rotated."""
import torch
import triton
import triton.language as tl

from ._utils import FLOAT_DTYPES, check_device, check_dtype, check_shape, kernel_op


@triton.jit
def _rotate(Src, Dst, c, s, heads, cols, ok, head_dim, half):
    """Rotate-half RoPE of one token's (nh, hd) block in float32: [x1 c - x2 s, x2 c + x1 s]."""
    offs = heads[:, None] * head_dim + cols[None, :]  # (BLOCK_H, BLOCK_HALF) first halves
    x1 = tl.load(Src + offs, mask=ok, other=0.0).to(tl.float32)
    x2 = tl.load(Src + offs + half, mask=ok, other=0.0).to(tl.float32)
    tl.store(Dst + offs, (x1 * c - x2 * s).to(Dst.dtype.element_ty), mask=ok)
    tl.store(Dst + offs + half, (x2 * c + x1 * s).to(Dst.dtype.element_ty), mask=ok)


@triton.jit
def _rope_qkv_kernel(
    QKV,  # (R, 3, nh, hd): per token Q, K, V back to back; each token's block contiguous
    Cos, Sin,  # (R, hd / 2) float32, contiguous
    Q, K,  # (R, nh, hd) outputs, contiguous, QKV's dtype
    stride_row,  # QKV token stride in elements
    num_heads,  # nh
    head_dim,  # hd (even)
    BLOCK_H: tl.constexpr,  # next power of two >= nh
    BLOCK_HALF: tl.constexpr,  # next power of two >= hd / 2
):
    row = tl.program_id(0).to(tl.int64)  # one program per token: its angles are read once for Q and K
    half = head_dim // 2
    heads = tl.arange(0, BLOCK_H)
    cols = tl.arange(0, BLOCK_HALF)
    ok = (heads < num_heads)[:, None] & (cols < half)[None, :]
    c = tl.load(Cos + row * half + cols, mask=cols < half, other=0.0)[None, :]  # (1, BLOCK_HALF)
    s = tl.load(Sin + row * half + cols, mask=cols < half, other=0.0)[None, :]
    width = num_heads * head_dim
    src = QKV + row * stride_row
    _rotate(src, Q + row * width, c, s, heads, cols, ok, head_dim, half)
    _rotate(src + width, K + row * width, c, s, heads, cols, ok, head_dim, half)


@kernel_op("rope_qkv")
def _rope_qkv_op(qkv: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    *lead, _, num_heads, head_dim = qkv.shape
    q = torch.empty((*lead, num_heads, head_dim), dtype=qkv.dtype, device=qkv.device)
    k = torch.empty_like(q)
    rows = qkv.reshape(-1, 3, num_heads, head_dim)  # (R, 3, nh, hd): a view for the model's contiguous GEMM output
    if rows.shape[0] == 0:
        return q, k
    block_h, block_half = triton.next_power_of_2(num_heads), triton.next_power_of_2(head_dim // 2)
    _rope_qkv_kernel[(rows.shape[0],)](
        rows, cos.reshape(-1, head_dim // 2), sin.reshape(-1, head_dim // 2), q, k,
        rows.stride(0), num_heads, head_dim,
        BLOCK_H=block_h, BLOCK_HALF=block_half, num_warps=4 if block_h * block_half >= 1024 else 2,
    )
    return q, k


@_rope_qkv_op.register_fake
def _(qkv, cos, sin):
    shape = (*qkv.shape[:-3], *qkv.shape[-2:])
    return qkv.new_empty(shape), qkv.new_empty(shape)


def rope_qkv(qkv, cos, sin, *, check: bool = True):
    """Split qkv (*lead, 3, nh, hd) and rotate Q and K; same contract as `fastenc.ops.reference.rope_qkv`.

    cos, sin (*lead, hd / 2) float32. Returns q, k (*lead, nh, hd) contiguous in qkv's dtype and v, a view of qkv.
    `check=False` skips the argument checks, for callers (the model) that validated their inputs once per forward.
    """
    if check:
        _check(qkv, cos, sin)
    q, k = _rope_qkv_op(qkv, cos.contiguous(), sin.contiguous())
    return q, k, qkv.select(-3, 2)


def _check(qkv, cos, sin) -> None:
    check_device("qkv", qkv)
    check_dtype("qkv", qkv, FLOAT_DTYPES)
    if qkv.dim() < 3 or qkv.shape[-3] != 3 or qkv.shape[-1] % 2:
        raise ValueError(f"qkv has shape {tuple(qkv.shape)}; expected (..., 3, heads, head_dim) with an even head_dim")
    inner = qkv.shape[-3:]
    if qkv.stride()[-3:] != (inner[1] * inner[2], inner[2], 1):
        raise ValueError(f"qkv must be contiguous within each token, got strides {tuple(qkv.stride())}")
    rows = qkv.reshape(-1, *inner)
    if rows.numel() and rows.stride()[1:] != qkv.stride()[-3:]:
        raise ValueError("qkv's leading dimensions must flatten without a copy")
    for name, t in (("cos", cos), ("sin", sin)):
        check_device(name, t, like=qkv)
        check_dtype(name, t, (torch.float32,))
        check_shape(name, t, (*qkv.shape[:-3], qkv.shape[-1] // 2))
