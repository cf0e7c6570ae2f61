"""Check and normalise what users pass to a forward call, so bad input fails with a message instead of a crash.

Checks run before the input moves to the model's device, on numbers read from one small host copy: where the input is
on a GPU, every `.item()` or `.cpu()` waits for all the work queued on it, so a call with device inputs waits once,
not once per check. Inputs on the CPU (where the tokenizer leaves them) cost no wait at all.
"""
from dataclasses import dataclass

import numpy as np
import torch


def _as_tensor(value, name: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        tensor = value
    elif isinstance(value, (list, tuple, np.ndarray)):
        try:
            tensor = torch.as_tensor(np.asarray(value))
        except (ValueError, TypeError, OverflowError) as e:
            raise ValueError(f"{name} must be a rectangular batch of integers (same length in every row, each "
                             f"within int64): {e}") from e
    else:
        raise TypeError(
            f"{name} must be a torch.Tensor, NumPy array or nested list of ints, got {type(value).__name__}")
    if tensor.numel() == 0:
        tensor = tensor.long()  # [] is float64 to NumPy; empty input is reported by the callers
    # Masks may also be float or bool, as transformers takes them (their values are checked in prepare_inputs).
    is_mask = name == "attention_mask"
    if tensor.is_complex() or (not is_mask and (tensor.is_floating_point() or tensor.dtype == torch.bool)):
        raise TypeError(f"{name} must hold integers, got dtype {tensor.dtype}")
    if tensor.dim() == 1:
        tensor = tensor[None]  # one sequence -> a batch of one
    if tensor.dim() != 2:
        raise ValueError(f"{name} must have shape (batch, seq_len) or (seq_len,), got {tuple(tensor.shape)}")
    return tensor if is_mask else tensor.long()


def prepare_inputs(model, input_ids, attention_mask, token_type_ids):
    """Returns (input_ids, attention_mask or None, token_type_ids or None, host_mask or None): the checked (B, T)
    tensors still on the device they came on (`to_model_device` moves them; all long, the mask 1 = token, 0 =
    padding) and the mask's host copy, which plans the packing."""
    config = model.config
    input_ids = _as_tensor(input_ids, "input_ids")
    B, T = input_ids.shape
    if B == 0 or T == 0:
        raise ValueError(f"input_ids is empty (shape {(B, T)}): nothing to encode")
    if T > model.max_length:
        raise ValueError(
            f"input_ids has {T} positions but this model takes at most {model.max_length} "
            f"(max_position_embeddings={config.max_position_embeddings}); truncate the input"
        )
    if attention_mask is not None:
        attention_mask = _as_tensor(attention_mask, "attention_mask")
        if attention_mask.shape != input_ids.shape:
            raise ValueError(
                f"attention_mask has shape {tuple(attention_mask.shape)}, input_ids {tuple(input_ids.shape)}"
            )
    if token_type_ids is not None:
        token_type_ids = _as_tensor(token_type_ids, "token_type_ids")
        if token_type_ids.shape != input_ids.shape:
            raise ValueError(
                f"token_type_ids has shape {tuple(token_type_ids.shape)}, input_ids {tuple(input_ids.shape)}"
            )
        if config.type_vocab_size == 0:
            raise ValueError(f"{config.model_type} models take no token_type_ids")

    facts = _read_on_host(input_ids, attention_mask, token_type_ids)
    if facts.ids[0] < 0 or facts.ids[1] >= config.vocab_size:
        raise ValueError(f"input_ids must lie in [0, {config.vocab_size}), found values in "
                         f"[{facts.ids[0]}, {facts.ids[1]}]")
    host_mask = None
    if attention_mask is not None:
        if facts.odd_mask_values:
            # transformers also takes float and bool masks. Any value but 0 and 1 (0.5, 2, -1, NaN, inf) has no agreed
            # meaning (an additive bias? a weight?), so it is refused rather than read one way silently.
            odd = attention_mask[(attention_mask != 0) & (attention_mask != 1)].flatten()[:3].tolist()
            raise ValueError(f"attention_mask must hold only 0 (padding) and 1 (token), found {odd}")
        attention_mask, host_mask = (attention_mask != 0).long(), facts.mask
        empty_rows = (~host_mask).all(dim=1).nonzero().flatten().tolist()
        if empty_rows:  # attention over no key at all has no defined result
            raise ValueError(f"attention_mask marks no token in row(s) {empty_rows[:5]}: every row needs at least one")
    if token_type_ids is not None:
        low, high = facts.types
        if low < 0 or high >= config.type_vocab_size:
            raise ValueError(f"token_type_ids must lie in [0, {config.type_vocab_size}), found [{low}, {high}]")
    elif config.type_vocab_size:
        token_type_ids = torch.zeros_like(input_ids)
    return input_ids, attention_mask, token_type_ids, host_mask


@dataclass
class _HostFacts:
    ids: tuple  # (min, max) of input_ids
    types: tuple | None  # (min, max) of token_type_ids
    odd_mask_values: int  # mask entries other than 0 and 1
    mask: torch.Tensor | None  # (B, T) bool, on the host


def _read_on_host(input_ids, attention_mask, token_type_ids) -> _HostFacts:
    """What the checks and the packing plan read, reduced where each tensor is and fetched in one copy per device."""
    parts = {"ids": torch.stack([input_ids.min(), input_ids.max()])}  # (2,)
    if token_type_ids is not None:
        parts["types"] = torch.stack([token_type_ids.min(), token_type_ids.max()])  # (2,)
    if attention_mask is not None:
        parts["odd"] = ((attention_mask != 0) & (attention_mask != 1)).sum().view(1)  # (1,)
        parts["mask"] = (attention_mask != 0).flatten()  # (B * T,)
    by_device = {}
    for name, part in parts.items():
        by_device.setdefault(part.device, []).append(name)
    host = {}
    for names in by_device.values():
        fetched = torch.cat([parts[n].long() for n in names]).cpu()  # one wait per device the inputs are on
        for name, value in zip(names, fetched.split([parts[n].numel() for n in names]), strict=True):
            host[name] = value
    mask = host["mask"].view(attention_mask.shape).bool() if attention_mask is not None else None
    return _HostFacts(ids=tuple(host["ids"].tolist()),
                      types=tuple(host["types"].tolist()) if token_type_ids is not None else None,
                      odd_mask_values=int(host["odd"]) if attention_mask is not None else 0, mask=mask)


def to_model_device(device, *tensors):
    """Move (possibly None) tensors to `device` without blocking the host (pinned when coming from the CPU)."""
    moved = []
    for t in tensors:
        if t is not None and t.device != device:
            if t.device.type == "cpu" and device.type == "cuda":
                t = t.pin_memory()
            t = t.to(device, non_blocking=True)
        moved.append(t)
    return moved


def as_token_ids(value, name: str = "tokens") -> torch.Tensor:
    """Integer ids as a long tensor of their own shape, (T,) or (B, T): the check for ids outside a forward call
    (decode, the fairseq calls). Floats, bools, strings and ragged rows are refused with `name` in the message."""
    tensor = _as_tensor(value, name)  # (B, T)
    one_row = value.dim() == 1 if isinstance(value, torch.Tensor) else np.ndim(value) == 1
    return tensor[0] if one_row else tensor
