"""Compile every kernel variant to a cubin for an NVIDIA target, without a GPU: `python compile_for_gpu.py [90]`.

The interpreter proves the math; this proves the same source is valid compiled Triton (types, constexpr branches,
tl.dot shapes, ptxas) for the shapes the launchers use. Run with TRITON_INTERPRET unset. Prints one line per variant
and exits 1 if any failed.
"""
import importlib
import itertools
import sys

import torch
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

POINTERS = {"fp16": "*fp16", "bf16": "*bf16", "fp32": "*fp32"}
# Shared memory one program may hold, in bytes, by target: H100/H200 (sm_90) 227 KiB.
MAX_SHARED = {90: 232448}


def compile_variant(target, fn, types, constexprs, num_warps=4, num_stages=3, aligned=()):
    """types: Triton type per run-time argument ("*bf16", "i32", "fp32"); the others default to i32. aligned: the
    arguments to mark divisible by 16, as the launch-time specialisation marks 16-byte aligned pointers and integers
    that are multiples of 16; without it loads cannot be vectorised, and Triton then does not pipeline them."""
    signature = {name: "constexpr" if name in constexprs else types.get(name, "i32") for name in fn.arg_names}
    attrs = {(fn.arg_names.index(name),): [["tt.divisibility", 16]] for name in aligned}
    return triton.compile(ASTSource(fn, signature, constexprs, attrs), target=target,
                          options=dict(num_warps=num_warps, num_stages=num_stages))


def attention_alignment(fn, extra=()) -> tuple:
    """What the launch-time specialisation marks divisible by 16 for an encoder's attention (head_dim a multiple of 16,
    Q, K and V views of the fused QKV projection): the pointers, head_dim and Q/K/V/Out strides. Without it the K and
    V loads are not pipelined, and the check would see less shared memory than a launch allocates."""
    return tuple(name for name in fn.arg_names if name in ("Q", "K", "V", "Out", "head_dim", *extra)
                 or (name[:-1] in ("stride_q", "stride_k", "stride_v", "stride_o") and name[-1] in "bth"))


def largest_tiles(module, fn, flags: dict, types: dict, label: str, score_tiles: int):
    """Per head dimension, the configuration of the launcher's bf16 candidates (for 512 tokens on sm_90) that needs
    the most shared memory by the launcher's own count (attention's `tile_bytes` with `score_tiles` of scratch and,
    where there is one, the bool key mask of `types`), with that count: the compiled kernel must not allocate more,
    or the pruning that keeps launches within the GPU's shared memory is wrong."""
    attention = importlib.import_module("fastenc.kernels.attention")
    from fastenc.kernels._utils import configs_that_fit

    for block_d in (64, 128, 256):
        def bytes_of(c, block_d=block_d):
            return attention.tile_bytes(c, block_d, 2, score_tiles, 1 if flags["HAS_MASK"] else 0)
        q = torch.empty(0, dtype=torch.bfloat16)  # on the CPU: the pruning counts, the limit is sm_90's, below
        args = dict(Q=q, Mask=torch.empty(0, dtype=torch.bool), HAS_MASK=flags["HAS_MASK"], SEQ_BUCKET=512,
                    BLOCK_D=block_d)
        kept = attention.prune_attention_tiles(module._configs(), args, score_tiles)
        # Of equal counts, the most warps (more warps can need more scratch).
        config = max(configs_that_fit(kept, bytes_of, MAX_SHARED[90]), key=lambda c: (bytes_of(c), c.num_warps))
        tile = "x".join(str(config.kwargs[b]) for b in ("BLOCK_M", "BLOCK_N"))
        yield (f"{label} BLOCK_D={block_d} largest tile {tile} stages={config.num_stages} warps={config.num_warps}",
               fn, types, dict(flags, BLOCK_D=block_d, **config.kwargs), config.num_warps, config.num_stages,
               attention_alignment(fn, tuple(n for n in fn.arg_names if n[:-1] in ("stride_c", "stride_p"))),
               bytes_of(config))


def variants():
    attention_module = importlib.import_module("fastenc.kernels.attention")
    attention = attention_module._attention_kernel.fn
    layer_norm = importlib.import_module("fastenc.kernels.layer_norm")._layer_norm_kernel
    bias_gelu = importlib.import_module("fastenc.kernels.bias_gelu")._bias_gelu_kernel
    embeddings = importlib.import_module("fastenc.kernels.embeddings")._embeddings_kernel
    glu = importlib.import_module("fastenc.kernels.geglu")._glu_kernel
    rope = importlib.import_module("fastenc.kernels.rope")._rope_qkv_kernel

    no_bias = dict(HAS_REL_BIAS=False)
    # head_dim 12 (bounds-checked head dimension), 64 (the encoders' own) and 128, each BLOCK_D whole.
    for dt, mode, (block_d, even_d), window in itertools.product(["bf16", "fp16"], ["padded", "mask", "varlen"],
                                                                 [(16, False), (64, True), (128, True)],
                                                                 [False, True]):
        p = POINTERS[dt]
        types = dict(Q=p, K=p, V=p, Out=p, Mask="*i1", CuSeqlens="*i32", RelBias=p,
                     qk_scale="fp32")
        flags = dict(VARLEN=mode == "varlen", HAS_MASK=mode == "mask", HAS_WINDOW=window, IS_FP32=False,
                     BLOCK_D=block_d, EVEN_D=even_d, **no_bias)
        label = f"attention {dt} {mode} BLOCK_D={block_d}" + ("" if even_d else " head_dim 12") + (
            " sliding window" if window else "")
        yield (label, attention, types, dict(flags, BLOCK_M=128, BLOCK_N=64), 8, 3,
               attention_alignment(attention) if even_d else ())
    # MPNet's relative position bias: its (2 * 128 + 1, heads) table by distance, in the model's dtype.
    for dt, mode, block_d in itertools.product(["bf16", "fp16", "fp32"], ["padded", "mask", "varlen"], [64]):
        p = POINTERS[dt]
        types = dict(Q=p, K=p, V=p, Out=p, Mask="*i1", CuSeqlens="*i32", RelBias=p,
                     qk_scale="fp32")
        flags = dict(VARLEN=mode == "varlen", HAS_MASK=mode == "mask", HAS_WINDOW=False, IS_FP32=dt == "fp32",
                     BLOCK_D=block_d, EVEN_D=True, HAS_REL_BIAS=True)
        tile, warps, stages = (dict(BLOCK_M=64, BLOCK_N=32), 4, 2) if dt == "fp32" else (
            dict(BLOCK_M=128, BLOCK_N=64), 8, 3)
        yield (f"attention {dt} {mode} BLOCK_D={block_d} relative bias", attention, types, dict(flags, **tile),
               warps, stages, attention_alignment(attention))
    p = POINTERS["fp32"]
    types = dict(Q=p, K=p, V=p, Out=p, Mask="*fp32", CuSeqlens="*i32", RelBias=p, qk_scale="fp32")
    flags = dict(VARLEN=False, HAS_MASK=True, HAS_WINDOW=False, IS_FP32=True, BLOCK_D=128, EVEN_D=False, BLOCK_M=64,
                 BLOCK_N=32, **no_bias)
    yield "attention fp32 mask BLOCK_D=128", attention, types, flags, 4, 2
    yield "attention fp32 varlen sliding window", attention, types, dict(flags, VARLEN=True, HAS_MASK=False,
                                                                          HAS_WINDOW=True), 4, 2
    # 64-bit strides, and the specialisation of arguments equal to 1 (seqlen 1, one head, unit strides).
    types = {name: "i64" for name in attention.arg_names if name.startswith("stride")}
    types.update(Q="*bf16", K="*bf16", V="*bf16", Out="*bf16", Mask="*i64", CuSeqlens="*i32", RelBias="*bf16",
                 qk_scale="fp32")
    flags = dict(VARLEN=False, HAS_MASK=True, HAS_WINDOW=False, IS_FP32=False, BLOCK_D=64, EVEN_D=True, BLOCK_M=64,
                 BLOCK_N=32, **no_bias)
    yield "attention bf16 i64 strides", attention, types, flags, 4, 2
    yield "attention bf16 seqlen=1", attention, types, dict(flags, seqlen=1, num_heads=1, stride_mt=1), 4, 2
    yield ("attention bf16 i64 strides relative bias + window", attention, types,
           dict(flags, HAS_REL_BIAS=True, HAS_WINDOW=True), 4, 2)
    types = dict(Q="*bf16", K="*bf16", V="*bf16", Out="*bf16", Mask="*i1", CuSeqlens="*i32", RelBias="*bf16",
                 qk_scale="fp32")
    for mode, extra in [("varlen", {}), ("mask", dict(VARLEN=False, HAS_MASK=True)), ("window", dict(HAS_WINDOW=True)),
                        ("relative bias", dict(HAS_REL_BIAS=True))]:
        flags = dict(dict(VARLEN=True, HAS_MASK=False, HAS_WINDOW=False, IS_FP32=False, EVEN_D=True, **no_bias),
                     **extra)
        yield from largest_tiles(attention_module, attention, flags, types, f"attention bf16 {mode}",
                                 1 if flags["HAS_REL_BIAS"] else 0)

    disentangled_module = importlib.import_module("fastenc.kernels.disentangled_attention")
    disentangled = disentangled_module._disentangled_kernel.fn
    disentangled_aligned = attention_alignment(disentangled, tuple(n for n in disentangled.arg_names
                                                                  if n[:-1] in ("stride_c", "stride_p")))
    for dt, mode, terms in itertools.product(["bf16", "fp16", "fp32"], ["mask", "varlen"],
                                             ["c2p+p2c", "c2p", "p2c"]):
        p = POINTERS[dt]
        types = dict(Q=p, K=p, V=p, Out=p, Mask="*i1", CuSeqlens="*i32", C2P="*fp32", P2C="*fp32", RelIdx="*i32",
                     qk_scale="fp32")
        flags = dict(VARLEN=mode == "varlen", HAS_MASK=mode == "mask", HAS_C2P="c2p" in terms,
                     HAS_P2C="p2c" in terms, IS_FP32=dt == "fp32", BLOCK_D=64)
        tile, warps, stages = (dict(BLOCK_M=64, BLOCK_N=32), 4, 2) if dt == "fp32" else (
            dict(BLOCK_M=128, BLOCK_N=64), 8, 3)
        yield (f"disentangled_attention {dt} {mode} {terms}", disentangled, types, dict(flags, **tile), warps,
               stages, disentangled_aligned)
    types = dict(Q="*bf16", K="*bf16", V="*bf16", Out="*bf16", Mask="*i1", CuSeqlens="*i32", C2P="*fp32",
                 P2C="*fp32", RelIdx="*i32", qk_scale="fp32")
    flags = dict(VARLEN=True, HAS_MASK=False, HAS_C2P=True, HAS_P2C=True, IS_FP32=False, BLOCK_D=128,
                 BLOCK_M=128, BLOCK_N=64)
    yield "disentangled_attention bf16 varlen BLOCK_D=128", disentangled, types, flags, 8, 3, disentangled_aligned
    yield from largest_tiles(disentangled_module, disentangled, dict(VARLEN=True, HAS_MASK=False, HAS_C2P=True,
                                                                     HAS_P2C=True, IS_FP32=False), types,
                             "disentangled_attention bf16 varlen", disentangled_module.SCORE_TILES)

    for dt, residual in itertools.product(["bf16", "fp32"], [False, True]):
        p = POINTERS[dt]
        types = dict(X=p, Residual=p, W="*fp32", B="*bf16", Out=p, eps="fp32")
        yield f"layer_norm {dt} residual={residual}", layer_norm, types, dict(HAS_RESIDUAL=residual, BLOCK_N=1024), 4, 1
    for dt, tanh in itertools.product(["bf16", "fp16", "fp32"], [False, True]):
        p = POINTERS[dt]
        yield f"bias_gelu {dt} tanh={tanh}", bias_gelu, dict(X=p, Bias=p, Out=p), dict(TANH=tanh, BLOCK_N=1024), 4, 1
    # Every autotune tile the launcher may pick for 16-bit inputs, both GELUs, with the alignment of the encoders'
    # sizes (so the K loop is pipelined, and the check sees its real shared memory); the masked K loop of unaligned
    # sizes; the fp32 tile.
    linear_gelu = importlib.import_module("fastenc.kernels.linear_gelu")
    gemm = linear_gelu._linear_gelu_kernel.fn.fn  # autotune(heuristics(jit))
    aligned = ("X", "W", "Bias", "Out", "N", "K", "stride_xm", "stride_wn")
    for dt, tanh, config in itertools.product(["bf16", "fp16"], [False, True], linear_gelu._configs()):
        if config.kwargs["BLOCK_K"] == 32:
            continue
        p = POINTERS[dt]
        flags = dict(TANH=tanh, IS_FP32=False, EVEN_K=True, **config.kwargs)
        tile = "x".join(str(config.kwargs[b]) for b in ("BLOCK_M", "BLOCK_N", "BLOCK_K"))
        yield (f"linear_gelu {dt} tanh={tanh} {tile} stages={config.num_stages} warps={config.num_warps}", gemm,
               dict(X=p, W=p, Bias=p, Out=p), flags, config.num_warps, config.num_stages, aligned)
    for dt in ["bf16", "fp16", "fp32"]:
        p = POINTERS[dt]
        config = linear_gelu._configs()[-1 if dt == "fp32" else 1]
        flags = dict(TANH=False, IS_FP32=dt == "fp32", EVEN_K=False, **config.kwargs)
        yield (f"linear_gelu {dt} masked K", gemm, dict(X=p, W=p, Bias="*fp32", Out=p), flags, config.num_warps,
               config.num_stages)
    config = linear_gelu._configs()[-1]
    for tanh in (False, True):
        flags = dict(TANH=tanh, IS_FP32=True, EVEN_K=True, **config.kwargs)
        yield (f"linear_gelu fp32 tanh={tanh}", gemm, dict(X="*fp32", W="*fp32", Bias="*fp32", Out="*fp32"), flags,
               config.num_warps, config.num_stages, aligned)
    types = dict(X="*bf16", W="*bf16", Bias="*bf16", Out="*bf16", M="i64", stride_xm="i64", stride_wn="i64")
    yield ("linear_gelu bf16 i64 sizes", gemm, types, dict(TANH=False, IS_FP32=False, EVEN_K=True,
                                                         **linear_gelu._configs()[0].kwargs), 8, 3, aligned)
    for dt, activation in itertools.product(["bf16", "fp16", "fp32"], [0, 1, 2]):  # GELU erf / tanh, SiLU
        p = POINTERS[dt]
        flags = dict(ACTIVATION=activation, BLOCK_N=1024)
        yield f"glu {dt} ACTIVATION={activation}", glu, dict(X=p, Out=p), flags, 4, 1
    for dt, (block_h, block_half) in itertools.product(["bf16", "fp16", "fp32"], [(1, 1), (16, 32), (16, 64)]):
        p = POINTERS[dt]
        types = dict(QKV=p, Cos="*fp32", Sin="*fp32", Q=p, K=p)
        yield (f"rope_qkv {dt} BLOCK_H={block_h} BLOCK_HALF={block_half}", rope, types,
               dict(BLOCK_H=block_h, BLOCK_HALF=block_half), 4, 1)
    for dt, position, token_type in itertools.product(["bf16", "fp32"], [False, True], [False, True]):
        p = POINTERS[dt]
        types = dict(InputIds="*i64", PositionIds="*i32", TokenTypeIds="*i64", Word=p, Position=p, TokenType=p,
                     W="*fp32", B="*fp32", Out=p, eps="fp32")
        flags = dict(HAS_POSITION=position, HAS_TOKEN_TYPE=token_type, BLOCK_N=1024)
        yield f"embeddings {dt} position={position} token_type={token_type}", embeddings, types, flags, 4, 1


def main(arch: int) -> int:
    from fastenc.kernels import _utils

    if _utils.INTERPRET:
        print("TRITON_INTERPRET is set: the kernels are interpreted functions; run without it")
        return 2
    target = GPUTarget("cuda", arch, 32)
    failed = 0
    for label, fn, types, constexprs, num_warps, num_stages, *extra in variants():
        aligned = extra[0] if extra else ()
        expected_shared = extra[1] if len(extra) > 1 else None
        try:
            kernel = compile_variant(target, fn, types, constexprs, num_warps, num_stages, aligned)
            shared = kernel.metadata.shared
            if shared > MAX_SHARED.get(arch, shared):  # would fail at launch (the autotuner drops such a config)
                raise RuntimeError(f"needs {shared} bytes of shared memory, above sm_{arch}'s {MAX_SHARED[arch]}")
            if expected_shared is not None and shared > expected_shared:  # the launcher's pruning relies on it
                raise RuntimeError(f"allocates {shared} bytes of shared memory; its launcher counts only "
                                   f"{expected_shared}")
            counted = f", the launcher counts {expected_shared // 1024} KiB" if expected_shared is not None else ""
            print(f"ok   {label}" + (f" (shared memory {shared // 1024} KiB{counted})" if shared >= 1024 else ""))
        except Exception as e:  # report every variant, then fail
            failed += 1
            print(f"FAIL {label}: {type(e).__name__}: {e}")
    print(f"{failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 90))
