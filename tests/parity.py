"""The one fp32 parity rule of the test suite, its float64 oracle, and the per-family log printed after a run.

Rule: for every output tensor, err(fastenc) <= 2 * err(transformers) + ATOL, where err is the largest absolute
difference from the same reference model run in float64 on the same inputs, over real tokens only (padding excluded).
A fixed bound cannot work on every CPU: which GEMM/softmax kernels PyTorch, oneDNN and MKL pick depends on the ISA
(AVX2, AVX-512, AMX), and on some machines transformers itself is 1e-5 away from float64 (eager vs sdpa differ by
1.6e-5 on the real MiniLM on an AMD EPYC). Measuring transformers' own error on the same machine and inputs makes the
bound follow that noise floor.
"""
import copy
import math
import weakref
from collections import defaultdict

import torch

# Why 1e-6: err(transformers) can be near 0 by luck where an output is computed in few steps (the embedding
# LayerNorm, a single probability or loss value); fastenc may still round differently in the last bit or two there.
# 1e-6 is ~8 ulp of a value near 1 (probabilities, normalised embeddings) and ~1 ulp of values of 8-16 (logits,
# losses), yet 10x below the 1e-5 errors a wrong operation order or a dropped term produces on these tiny models.
# Larger outputs need no larger atol: their fp32 rounding alone puts err(transformers) near half an ulp of the largest
# value, so the 2 * err(transformers) term already scales with the output's magnitude.
ATOL = 1e-6

# family -> [largest fastenc error, transformers' error on that same output, largest err / bound over every check]
LOG = defaultdict(lambda: [0.0, 0.0, 0.0])

_TWINS = weakref.WeakKeyDictionary()


def float64_twin(hf_model: torch.nn.Module) -> torch.nn.Module:
    """A float64 deep copy of a transformers model (made once per model): the oracle every parity check uses."""
    twin = _TWINS.get(hf_model)
    if twin is None:
        twin = _TWINS[hf_model] = copy.deepcopy(hf_model).double().eval()
    return twin


def errors(ours, theirs, oracle, mask=None) -> tuple[float, float]:
    """(max |ours - oracle|, max |theirs - oracle|) over the entries `mask` selects (all when None).

    `mask` is a bool (or 0/1) tensor over the leading dimensions, e.g. (B, T) attention_mask for (B, T, H) outputs.
    Fails on shape mismatch, on an empty selection (a comparison of nothing passes vacuously) and on NaN/inf.
    """
    ours, theirs, oracle = (torch.as_tensor(t).detach().cpu().double() for t in (ours, theirs, oracle))
    assert ours.shape == theirs.shape == oracle.shape, (ours.shape, theirs.shape, oracle.shape)
    if mask is not None:
        keep = torch.as_tensor(mask).cpu().bool()
        assert keep.shape == ours.shape[:keep.dim()], (keep.shape, ours.shape)
        ours, theirs, oracle = ours[keep], theirs[keep], oracle[keep]
    assert ours.numel() > 0, "nothing to compare: the mask selects no entry"
    for name, t in (("fastenc", ours), ("transformers", theirs), ("float64 reference", oracle)):
        assert torch.isfinite(t).all(), f"{name} output holds NaN or inf"
    return (ours - oracle).abs().max().item(), (theirs - oracle).abs().max().item()


def bound(ref_err: float) -> float:
    """The largest error fastenc may have where transformers' own error is `ref_err`."""
    return 2 * ref_err + ATOL


def check(family: str, what: str, err: float, ref_err: float) -> None:
    """Assert the rule for one output whose errors were measured by `errors`, and log it under `family`."""
    assert math.isfinite(err) and math.isfinite(ref_err), (what, err, ref_err)
    limit = bound(ref_err)
    entry = LOG[family]
    if err >= entry[0]:
        entry[0], entry[1] = err, ref_err
    entry[2] = max(entry[2], err / limit)
    assert err <= limit, (f"{family} {what}: fastenc is {err:.3e} from the float64 reference, above "
                          f"2 * {ref_err:.3e} (transformers' own error) + {ATOL:.0e}")


def assert_parity(family: str, what: str, ours, theirs, oracle, mask=None) -> tuple[float, float]:
    """errors() then check(): the whole rule for one output tensor. Returns (err, ref_err)."""
    err, ref_err = errors(ours, theirs, oracle, mask)
    check(family, what, err, ref_err)
    return err, ref_err


def assert_valid_top_k(chosen, oracle_scores, tolerance: float, what: str = "ranking") -> None:
    """`chosen` (ids, best first) is the float64 reference's top-k wherever its scores differ by more than `tolerance`.

    Two candidates whose reference scores lie within `tolerance` (the fp32 noise both implementations are allowed) may
    come in either order, or either may take the last place; any wider gap must be respected exactly.
    """
    scores = torch.as_tensor(oracle_scores).double().flatten()
    chosen = [int(i) for i in chosen]
    assert chosen and len(set(chosen)) == len(chosen), (what, chosen)
    picked = scores[chosen]
    for i in range(len(chosen) - 1):
        assert picked[i] >= picked[i + 1:].max() - tolerance, (
            f"{what}: id {chosen[i]} (reference score {picked[i]:.6g}) is ranked above a clearly better one: "
            f"{list(zip(chosen, picked.tolist()))}")
    rest = torch.ones_like(scores, dtype=torch.bool)
    rest[chosen] = False
    if rest.any():
        best_left_out = scores[rest].max()
        assert best_left_out <= picked.min() + tolerance, (
            f"{what}: id {int(torch.where(rest, scores, -math.inf).argmax())} (reference score {best_left_out:.6g}) "
            f"was left out of {list(zip(chosen, picked.tolist()))}")


def summary_lines() -> list[str]:
    lines = [f"{'family':17} {'fastenc err':>11} {'transformers err':>16} {'ratio':>6} {'worst err/bound':>15}"]
    for family, (err, ref_err, used) in sorted(LOG.items()):
        ratio = f"{err / ref_err:6.2f}" if ref_err > 0 else f"{'inf' if err > 0 else '-':>6}"
        lines.append(f"{family:17} {err:11.2e} {ref_err:16.2e} {ratio} {used:15.2f}")
    return lines
