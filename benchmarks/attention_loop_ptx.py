"""What one key block of the attention kernel costs in compiled code, without a GPU: compile it for sm_90 as a launch
specialises it (tests/kernels/compile_for_gpu.py) and count the PTX instructions of its key loop, per thread.

    python benchmarks/attention_loop_ptx.py [--tree DIR ...] [--record FILE]

Each --tree is a checkout whose fastenc is compiled (default: this one), e.g. a `git worktree` of an older commit
for a before/after. Static counts, not a timing: fewer instructions per block where the tensor-core work is the same
means less softmax work for the same matrix products; `cp.async` in the loop means the K and V loads are pipelined.
"""
import argparse
import collections
import datetime
import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The encoders' shape: head_dim 64, the 128 x 64 tile, 8 warps, 3 stages; the modes the model runs.
# MPNet's relative position bias on the packed path too.
CASES = [dict(VARLEN=True, HAS_MASK=False), dict(VARLEN=False, HAS_MASK=False), dict(VARLEN=False, HAS_MASK=True),
         dict(VARLEN=True, HAS_MASK=False, HAS_REL_BIAS=True)]
COUNTED = ("selp", "setp", "fma", "mul", "add", "sub", "max", "cvt", "ex2", "wgmma", "cp")


def loop_counts(ptx: str) -> collections.Counter:
    """Opcodes of the loop that holds the wgmma instructions: the lines from a label to the branch back to it."""
    lines = ptx.splitlines()
    labels = {m.group(1): i for i, line in enumerate(lines) if (m := re.match(r"(\$L__BB\d+_\d+):", line))}
    for i, line in enumerate(lines):
        back = re.search(r"bra(?:\.uni)?\s+(\$L__BB\d+_\d+);", line)
        if back and labels.get(back.group(1), i) < i:
            body = [re.match(r"\s*(?:@!?%p\d+\s+)?([a-z]\w*)", x) for x in lines[labels[back.group(1)]:i + 1]]
            ops = collections.Counter(m.group(1) for m in body if m)
            if ops["wgmma"]:
                return ops
    return collections.Counter()


def measure(tree: str) -> list:
    """In this process: compile each case from `tree`'s fastenc and count its loop."""
    sys.path[:0] = [tree, str(REPO / "tests" / "kernels")]
    import importlib

    import compile_for_gpu
    from triton.backends.compiler import GPUTarget

    fn = importlib.import_module("fastenc.kernels.attention")._attention_kernel.fn
    # RelBounds and NUM_BOUNDS (7 bounds, MPNet's buckets): the kernel before a bias by distance, for a before/after.
    types = dict(Q="*bf16", K="*bf16", V="*bf16", Out="*bf16", Mask="*i1", CuSeqlens="*i32", RelBias="*bf16",
                 RelBounds="*i32", qk_scale="fp32")
    rows = []
    for case in CASES:
        flags = dict(dict(HAS_REL_BIAS=False), **case, HAS_WINDOW=False, IS_FP32=False, BLOCK_D=64, EVEN_D=True,
                     BLOCK_M=128, BLOCK_N=64)
        flags["NUM_BOUNDS"] = 7 if flags["HAS_REL_BIAS"] else 0
        # The bias table's unit stride, which a launch specialises: by distance now, by head before.
        flags["stride_rd" if "stride_rd" in fn.arg_names else "stride_rh"] = 1
        flags = {name: value for name, value in flags.items() if name in fn.arg_names}  # what this kernel takes
        kernel = compile_for_gpu.compile_variant(GPUTarget("cuda", 90, 32), fn, types, flags, 8, 3,
                                                 compile_for_gpu.attention_alignment(fn))
        ops = loop_counts(kernel.asm["ptx"])
        mode = ("varlen" if case["VARLEN"] else "padded + mask" if case["HAS_MASK"] else "padded") + (
            " + rel bias" if case.get("HAS_REL_BIAS") else "")
        rows.append(dict(mode=mode, shared_kib=kernel.metadata.shared // 1024, loop_instructions=sum(ops.values()),
                         **{op: ops[op] for op in COUNTED}))
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tree", action="append", help="a checkout to compile (repeatable; default: this one)")
    p.add_argument("--record", type=Path, help="also write the output to this file")
    p.add_argument("--measure", help=argparse.SUPPRESS)  # the child process: print one tree's rows as JSON
    args = p.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return 0
    import triton

    out = [f"python benchmarks/attention_loop_ptx.py {' '.join(sys.argv[1:] if argv is None else argv)}",
           f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC  triton {triton.__version__}  sm_90, "
           "bf16, head_dim 64, BLOCK_M 128, BLOCK_N 64, 8 warps, 3 stages; PTX instructions per thread per key block"]
    header = f"{'tree':40} {'mode':20} {'shared':>7} {'loop':>5} " + " ".join(f"{op:>5}" for op in COUNTED)
    out.append(header)
    for tree in args.tree or [str(REPO)]:
        env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}  # compile, do not interpret
        child = subprocess.run([sys.executable, __file__, "--measure", str(Path(tree).resolve())], text=True,
                               capture_output=True, env=env)
        if child.returncode:
            out.append(f"{tree}: failed\n{child.stderr[-2000:]}")
            continue
        git = ["git", "-C", tree]
        label = subprocess.run([*git, "log", "-1", "--format=%h %s"], text=True, capture_output=True).stdout[:32]
        dirty = subprocess.run([*git, "status", "--porcelain", "fastenc"], text=True, capture_output=True).stdout
        label = (label.strip() or tree) + (" +edits" if dirty.strip() else "")
        for row in json.loads(child.stdout.splitlines()[-1]):
            out.append(f"{label:40} {row['mode']:20} {row['shared_kib']:>4} KiB {row['loop_instructions']:>5} "
                       + " ".join(f"{row[op]:>5}" for op in COUNTED))
    text = "\n".join(out)
    print(text)
    if args.record:
        args.record.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
