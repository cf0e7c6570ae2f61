"""Check and normalise what users pass to a forward call, so bad input fails with a message instead of a crash.

Checks run where the input already is (usually the CPU, where the tokenizer left it) before it moves to the model's
device: range checks on a GPU tensor would stall the host on every call.
"""
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
        raise TypeError(f"{name} must be a torch.Tensor, NumPy array or nested list of ints, got {type(value).__name__}")
    if tensor.numel() == 0:
        tensor = tensor.long()  # [] is float64 to NumPy; empty input is reported by the callers
    if name == "attention_mask" and not tensor.is_complex():
        # transformers also takes float and bool masks. Any value but 0 and 1 (0.5, 2, -1, NaN, inf) has no agreed
        # meaning (an additive bias? a weight?), so it is refused rather than read one way silently.
        if tensor.dtype != torch.bool and bool(((tensor != 0) & (tensor != 1)).any()):
            odd = tensor[(tensor != 0) & (tensor != 1)].flatten()[:3].tolist()
            raise ValueError(f"attention_mask must hold only 0 (padding) and 1 (token), found {odd}")
        tensor = tensor != 0
    elif tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool:
        raise TypeError(f"{name} must hold integers, got dtype {tensor.dtype}")
    if tensor.dim() == 1:
        tensor = tensor[None]  # one sequence -> a batch of one
    if tensor.dim() != 2:
        raise ValueError(f"{name} must have shape (batch, seq_len) or (seq_len,), got {tuple(tensor.shape)}")
    return tensor.long()


def prepare_inputs(model, input_ids, attention_mask, token_type_ids):
    """Returns (input_ids, attention_mask or None, token_type_ids or None) as checked (B, T) long tensors, still on
    the device they came on; `to_model_device` moves them."""
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
    low, high = int(input_ids.min()), int(input_ids.max())
    if low < 0 or high >= config.vocab_size:
        raise ValueError(f"input_ids must lie in [0, {config.vocab_size}), found values in [{low}, {high}]")
    if attention_mask is not None:
        attention_mask = _as_tensor(attention_mask, "attention_mask")
        if attention_mask.shape != input_ids.shape:
            raise ValueError(
                f"attention_mask has shape {tuple(attention_mask.shape)}, input_ids {tuple(input_ids.shape)}"
            )
        empty_rows = (attention_mask == 0).all(dim=1).nonzero().flatten().tolist()
        if empty_rows:  # attention over no key at all has no defined result
            raise ValueError(f"attention_mask marks no token in row(s) {empty_rows[:5]}: every row needs at least one")
    if token_type_ids is not None:
        token_type_ids = _as_tensor(token_type_ids, "token_type_ids")
        if token_type_ids.shape != input_ids.shape:
            raise ValueError(
                f"token_type_ids has shape {tuple(token_type_ids.shape)}, input_ids {tuple(input_ids.shape)}"
            )
        if config.type_vocab_size == 0:
            raise ValueError(f"{config.model_type} models take no token_type_ids")
        low, high = int(token_type_ids.min()), int(token_type_ids.max())
        if low < 0 or high >= config.type_vocab_size:
            raise ValueError(f"token_type_ids must lie in [0, {config.type_vocab_size}), found [{low}, {high}]")
    elif config.type_vocab_size:
        token_type_ids = torch.zeros_like(input_ids)
    return input_ids, attention_mask, token_type_ids


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
