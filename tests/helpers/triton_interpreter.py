"""Workarounds for the Triton interpreter, which the tests use to run the kernels on CPU-only machines.

They belong to the test set-up, not to fastenc: compiled kernels never meet them. tests/conftest.py applies them once
TRITON_INTERPRET=1 is set (they patch the interpreter's classes, so the kernels' import order does not matter).
"""
import triton


def mend() -> None:
    """Three fixes to the Triton interpreter (the CPU test path); compiled kernels are untouched. Idempotent.

    - Scalars are one-element arrays there, turned into loop bounds with `int(array)`, which NumPy 2.4 made a
      TypeError: `for i in range(0, n, BLOCK)` with a run-time `n` fails (triton-lang/triton#9171, fixed upstream
      after 3.6.0 the same way).
    - bfloat16 is held as raw uint16 bits and `tl.dot` multiplies the bits (triton-lang/triton#11584, "not supported
      yet"); the operands are widened to float32 first, exactly, as a GPU's bf16 MMA with fp32 accumulation does.
    - float32 -> bfloat16 casts truncate there; a GPU rounds to nearest even, which is what the tests must see.
    """
    import numpy as np
    from triton.runtime import interpreter

    if getattr(interpreter, "_fastenc_mended", False):
        return
    interpreter._fastenc_mended = True
    patch_tensor = interpreter._patch_lang_tensor

    def patched_tensor(tensor, scope):
        patch_tensor(tensor, scope)
        scope.set_attr(tensor, "__index__", lambda self: int(self.handle.data.reshape(-1)[0]))

    interpreter._patch_lang_tensor = patched_tensor

    builder = interpreter.InterpreterBuilder
    create_dot = builder.create_dot

    def widen(h):
        if h.dtype.scalar != triton.language.bfloat16:
            return h
        data = interpreter._convert_float(h.data, h.dtype.scalar, triton.language.float32, None).view(np.float32)
        return interpreter.TensorHandle(data, triton.language.float32)

    def patched_dot(self, a, b, d, input_precision, max_num_imprecise_acc):
        return create_dot(self, widen(a), widen(b), d, input_precision, max_num_imprecise_acc)

    builder.create_dot = patched_dot

    cast_impl = builder.cast_impl
    bf16, fp32 = triton.language.bfloat16, triton.language.float32

    def patched_cast(self, src, dst_type):
        if src.dtype.scalar != fp32 or dst_type.scalar != bf16:
            return cast_impl(self, src, dst_type)
        bits = np.ascontiguousarray(src.data, dtype=np.float32).view(np.uint32)
        rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)  # round to nearest even
        nan = np.isnan(src.data)
        rounded[nan] = (bits[nan] >> 16).astype(np.uint16) | 0x40  # stay NaN (quiet)
        return interpreter.TensorHandle(rounded, bf16)

    builder.cast_impl = patched_cast
