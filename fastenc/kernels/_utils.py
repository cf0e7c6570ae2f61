"""Helpers shared by the kernel launchers: the custom-op wrapper, where kernels may run, argument checks, block
sizes, shared memory."""
import functools

import torch
import triton

# Whether this process runs kernels through the Triton interpreter. Read once, at import, because `triton.jit`
# decides between the compiler and the interpreter when a kernel is defined: TRITON_INTERPRET=1 must be set before
# fastenc.kernels is imported (importing triton earlier is fine).
INTERPRET = bool(triton.knobs.runtime.interpret)

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32)
INDEX_DTYPES = (torch.int32, torch.int64)

# Widest row a one-program-per-row kernel holds in registers (LayerNorm, embeddings).
MAX_FUSED_ROW = 65536


@functools.cache
def _shared_memory_limit(device_index: int) -> int:
    return triton.runtime.driver.active.utils.get_device_properties(device_index)["max_shared_mem"]


def shared_memory_limit(t: torch.Tensor) -> int | None:
    """Bytes of shared memory one program may use on t's GPU: the bound a launch is refused above (Triton's
    OutOfResources). None under the interpreter, which has no such bound."""
    if INTERPRET or t.device.type != "cuda":
        return None
    return _shared_memory_limit(t.device.index if t.device.index is not None else torch.cuda.current_device())


def configs_that_fit(configs: list, shared_bytes, limit: int | None) -> list:
    """The configurations whose `shared_bytes(config)` is within `limit`, else the one needing least. An autotuning
    search would only time a config that does not fit as infinitely slow; a lone one (a table's winner, no search)
    would fail its launch."""
    if limit is None or not configs:
        return list(configs)
    return [c for c in configs if shared_bytes(c) <= limit] or [min(configs, key=shared_bytes)]


class KernelOp:
    """A launcher registered as the custom op `torch.ops.fastenc.<name>`, called the way its caller needs it.

    While torch.compile traces, a call goes through the op: the compiler sees one opaque node, shaped by the op's fake.
    Eager calls (the model's forward, CUDA-graph capture) run the launcher itself: the dispatcher costs several
    microseconds of host time a call (`benchmarks/bench_dispatch.py`), and a roberta-large forward launches about a
    hundred kernels.
    """

    def __init__(self, name: str, launch):
        self.op = torch.library.custom_op(f"fastenc::{name}", launch, mutates_args=())
        self.launch = launch

    def register_fake(self, fake):
        return self.op.register_fake(fake)

    def __call__(self, *args, **kwargs):
        return (self.op if torch.compiler.is_compiling() else self.launch)(*args, **kwargs)


def kernel_op(name: str):
    """Decorator: the launcher below as a KernelOp named `fastenc::<name>`."""
    return lambda launch: KernelOp(name, launch)


def check_device(name: str, t: torch.Tensor, like: torch.Tensor | None = None) -> None:
    """CUDA tensors run compiled; CPU tensors only through the interpreter. `like`: the tensor `t` must sit beside."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.device.type == "cuda":
        pass
    elif t.device.type == "cpu" and INTERPRET:
        pass
    elif t.device.type == "cpu":
        raise ValueError(
            f"{name} is on the CPU: fastenc.kernels needs CUDA tensors, or TRITON_INTERPRET=1 set before triton is "
            "imported to run them on the CPU through the Triton interpreter (use fastenc.ops.reference on the CPU)"
        )
    else:
        raise ValueError(f"{name} is on device {t.device}; fastenc.kernels runs on CUDA (or CPU under the interpreter)")
    if like is not None and t.device != like.device:
        raise ValueError(f"{name} is on {t.device} but the other inputs are on {like.device}")


def check_dtype(name: str, t: torch.Tensor, allowed: tuple) -> None:
    if t.dtype not in allowed:
        names = ", ".join(str(d).removeprefix("torch.") for d in allowed)
        raise TypeError(f"{name} has dtype {t.dtype}; expected one of {names}")


def check_shape(name: str, t: torch.Tensor, shape: tuple) -> None:
    """`shape` entries of None match any size."""
    if t.dim() != len(shape) or any(want is not None and got != want for got, want in zip(t.shape, shape)):
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
        raise ValueError(f"{name} has shape {tuple(t.shape)}; expected {want}")


def check_rows(name: str, t: torch.Tensor, width: str = "N") -> None:
    """`t` holds rows of floats the kernels can read: (..., width) with width >= 1 on a device they run on, in fp16,
    bf16 or fp32, its last dimension contiguous."""
    check_device(name, t)
    check_dtype(name, t, FLOAT_DTYPES)
    if t.dim() == 0 or t.shape[-1] == 0:
        raise ValueError(f"{name} has shape {tuple(t.shape)}; expected (..., {width}) with {width} >= 1")
    check_last_dim_contiguous(name, t)


def check_last_dim_contiguous(name: str, t: torch.Tensor) -> None:
    if t.dim() > 0 and t.shape[-1] > 1 and t.stride(-1) != 1:
        raise ValueError(
            f"{name} must be contiguous in its last dimension (stride 1), got strides {tuple(t.stride())} "
            f"for shape {tuple(t.shape)}"
        )


def validate_forward(input_ids: torch.Tensor, weight: torch.Tensor, head_dim: int) -> None:
    """What a model checks once per forward before launching the kernels with their per-call checks off: the device
    (CUDA, or the CPU under the interpreter), a float dtype for the weights, integer ids beside them, head_dim <= 128.
    Activations are made by the model itself, so their layouts need no check."""
    check_device("weights", weight)
    check_dtype("weights", weight, FLOAT_DTYPES)
    check_device("input_ids", input_ids, like=weight)
    check_dtype("input_ids", input_ids, INDEX_DTYPES)
    if head_dim > 128:
        raise ValueError(f"head_dim {head_dim} is above the 128 the attention kernel supports")
    row_settings(weight.shape[-1])


def row_settings(n: int) -> tuple[int, int]:
    """(BLOCK_N, num_warps) for one program holding a whole row of n elements."""
    block = triton.next_power_of_2(n)
    if block > MAX_FUSED_ROW:
        raise ValueError(f"rows of {n} elements exceed the fused-row limit of {MAX_FUSED_ROW}")
    num_warps = 32 if block >= 32768 else 16 if block >= 8192 else 8 if block >= 2048 else 4
    return block, num_warps
