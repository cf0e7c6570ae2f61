"""Variable-length attention on the CPU through the C++ kernel in csrc/attention_cpu.cpp, with the checks it needs.

`reference.attention` is the definition (PyTorch's fused attention over length buckets of a padded layout) and the
oracle this kernel is tested against. The kernel computes the same softmax(q k^T * scale) v in float32 straight from
the packed (N, nh, hd) views of the fused QKV product: no gather into buckets, no scatter back, only each sequence's
real keys. `varlen_attention` returns None when it cannot take the call (another device or dtype, a head size not a
multiple of 16, strides it does not read, the extension missing), and the caller runs the reference instead.
"""
import torch

try:
    from .. import _C
except ImportError:  # a source tree without the compiled extension: the reference path runs
    _C = None

_DTYPES = {torch.float32: 0, torch.bfloat16: 1}


def available() -> bool:
    return _C is not None and hasattr(_C, "varlen_attention")


def isa() -> str | None:
    """The kernel's code path on this CPU ("avx512", "avx2", "default"; ATEN_CPU_CAPABILITY caps it), None without
    it."""
    return _C.varlen_attention_isa() if available() else None


def supports(q, k, v, cu_seqlens) -> bool:
    """Whether the kernel reads these tensors as they are: CPU, fp32 or bf16, (N, nh, hd) tensors whose heads and dims
    are contiguous within a token (as `qkv.view(N, 3, nh, hd).unbind(1)` or a rotated q and k give), each with its
    own token stride."""
    if not available() or q.dtype not in _DTYPES or q.device.type != "cpu":
        return False
    if q.dim() != 3 or q.shape != k.shape or q.shape != v.shape or q.dtype != k.dtype or q.dtype != v.dtype:
        return False
    N, nh, hd = q.shape
    if hd % 16 or k.device != q.device or v.device != q.device:
        return False
    if any(t.stride()[1:] != (hd, 1) or t.stride(0) < nh * hd for t in (q, k, v)) and N > 1:
        return False
    return cu_seqlens.dtype == torch.int32 and cu_seqlens.device.type == "cpu" and cu_seqlens.dim() == 1


def varlen_attention(q, k, v, cu_seqlens, softmax_scale=None):
    """q, k, v (N, nh, hd) packed back to back by cu_seqlens (B + 1,) int32. Returns (N, nh, hd) contiguous in q's
    dtype, or None when `supports` says no."""
    if not supports(q, k, v, cu_seqlens):
        return None
    N, nh, hd = q.shape
    if N and int(cu_seqlens[-1]) != N:
        raise ValueError(f"cu_seqlens ends at {int(cu_seqlens[-1])} but q has {N} tokens")
    cu = cu_seqlens.contiguous()
    out = q.new_empty(N, nh, hd)
    if N == 0:
        return out
    scale = softmax_scale if softmax_scale is not None else hd**-0.5
    with torch.profiler.record_function("fastenc::cpu_varlen_attention"):  # named in torch.profiler tables
        _C.varlen_attention(q.data_ptr(), k.data_ptr(), v.data_ptr(), out.data_ptr(), cu.data_ptr(), cu.shape[0] - 1,
                            nh, hd, q.stride(0), k.stride(0),
                            v.stride(0), float(scale), _DTYPES[q.dtype], torch.get_num_threads())
    return out
