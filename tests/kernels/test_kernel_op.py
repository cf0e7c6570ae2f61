"""fastenc.kernels._utils.KernelOp: eager calls run the launcher without the dispatcher; torch.compile sees the op."""
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from fastenc.kernels._utils import kernel_op


@kernel_op("kernel_op_probe")
def probe(x: torch.Tensor, scale: float, shift: float = 0.0) -> torch.Tensor:
    return x * scale + shift


@probe.register_fake
def _(x, scale, shift=0.0):
    return x.new_empty(x.shape)


class Ops(TorchDispatchMode):
    """Every operator that reaches the dispatcher, by name."""

    def __init__(self):
        super().__init__()
        self.names = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.append(str(func))
        return func(*args, **(kwargs or {}))


def test_eager_calls_run_the_launcher_itself():
    x = torch.arange(4.0)
    with Ops() as seen:
        out = probe(x, 2.0)
        shifted = probe(x, 2.0, shift=1.0)  # keyword arguments reach the launcher too
    assert torch.equal(out, x * 2) and torch.equal(shifted, x * 2 + 1)
    assert not any("kernel_op_probe" in name for name in seen.names) and any("mul" in n for n in seen.names)
    assert torch.equal(torch.ops.fastenc.kernel_op_probe(x, 2.0), x * 2)  # the registered op, for users and tests


def test_torch_compile_traces_the_op():
    graphs = []

    def backend(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    compiled = torch.compile(lambda x: probe(x + 1, 3.0, shift=1.0), backend=backend, fullgraph=True)
    x = torch.arange(4.0)
    assert torch.equal(compiled(x), (x + 1) * 3 + 1)
    targets = [str(node.target) for node in graphs[0].graph.nodes if node.op == "call_function"]
    assert any("fastenc.kernel_op_probe" in t for t in targets), targets
