"""The parity rule on every output of a checkpoint's head: shared by the model, checkpoint and padding tests."""
import torch

from parity import assert_parity, float64_twin


def reference_outputs(hf_model, ids, mask, type_ids=None):
    kwargs = {"attention_mask": mask, "output_hidden_states": True}
    if type_ids is not None:
        kwargs["token_type_ids"] = type_ids
    with torch.no_grad():
        return hf_model(ids, **kwargs)


def head_outputs(out, task: str, mask, transformers_names: bool = False) -> dict:
    """name -> (tensor, token mask or None) for every output `task` produces; transformers' names when asked."""
    found = {f"hidden_states[{i}]": (h, mask) for i, h in enumerate(out.hidden_states)}
    if getattr(out, "last_hidden_state", None) is not None:
        found["last_hidden_state"] = (out.last_hidden_state, mask)
    if getattr(out, "pooler_output", None) is not None:
        found["pooler_output"] = (out.pooler_output, None)
    if task in ("masked_lm", "token_classification"):
        found["logits"] = (out.logits, mask)
    elif task in ("sequence_classification", "next_sentence"):
        found["logits"] = (out.logits, None)
    elif task == "pretraining" and (not hasattr(out, "prediction_logits") if transformers_names
                                    else out.seq_relationship_logits is None):
        found["logits"] = (out.logits, mask)  # ELECTRA's discriminator: one logit per token, nothing per sequence
    elif task == "pretraining":
        if transformers_names:
            pair = out.seq_relationship_logits if hasattr(out, "seq_relationship_logits") else out.sop_logits
            found["logits"], found["seq_relationship_logits"] = (out.prediction_logits, mask), (pair, None)
        else:
            found["logits"], found["seq_relationship_logits"] = (out.logits, mask), (out.seq_relationship_logits, None)
    elif task == "question_answering":
        found["start_logits"], found["end_logits"] = (out.start_logits, mask), (out.end_logits, mask)
    return found


def compare(model, hf_model, ids, mask, type_ids=None):
    """Assert every output the checkpoint's head produces obeys the parity rule; returns the largest fastenc error."""
    out = model(ids, attention_mask=mask, token_type_ids=type_ids, output_hidden_states=True)
    return compare_outputs(model, out, hf_model, ids, mask, type_ids)


def compare_outputs(model, out, hf_model, ids, mask, type_ids=None, what=""):
    """The parity rule on every output in `out` (fastenc's, output_hidden_states=True) for these inputs."""
    ref = reference_outputs(hf_model, ids, mask, type_ids)
    oracle = reference_outputs(float64_twin(hf_model), ids, mask, type_ids)
    assert len(out.hidden_states) == len(ref.hidden_states)
    task = model.config.task
    ours = head_outputs(out, task, mask)
    theirs, exact = (head_outputs(r, task, mask, transformers_names=True) for r in (ref, oracle))
    assert theirs.keys() <= ours.keys(), (ours.keys(), theirs.keys())  # a head-only transformers output has no
    worst = 0.0                                                          # last_hidden_state; fastenc always does
    for name, (reference, keep) in theirs.items():
        err, _ = assert_parity(model.config.model_type, name + what, ours[name][0], reference, exact[name][0], keep)
        worst = max(worst, err)
    return worst


def triton_device_or_skip() -> str:
    """The device the Triton backend runs on here (cuda compiled, cpu interpreted), or a skip saying why none."""
    import os

    import pytest

    pytest.importorskip("triton", reason="the triton backend needs triton")
    if not torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET") != "1":
        pytest.skip("no CUDA and the Triton interpreter is off")
    return "cuda" if torch.cuda.is_available() else "cpu"


def compare_on_device(label, model, hf_model, ids, mask, device):
    """The parity rule on every output of `model` (on `device`), with transformers on the same device as the noise
    floor (the float64 oracle runs on the CPU)."""
    ref = reference_outputs(hf_model.to(device), ids.to(device), mask.to(device))
    oracle = reference_outputs(float64_twin(hf_model.cpu()), ids, mask)
    out = model(ids, attention_mask=mask, output_hidden_states=True)
    task = model.config.task
    theirs, exact = (head_outputs(r, task, mask, transformers_names=True) for r in (ref, oracle))
    ours = head_outputs(out, task, mask)
    for name, (reference, keep) in theirs.items():
        assert_parity(label, name, ours[name][0], reference, exact[name][0], keep)


def low_precision_cosine(folder, dtype, lengths) -> float:
    """The smallest cosine similarity, over real tokens of a padded batch of `lengths`, between the last hidden states
    of the checkpoint in `folder` loaded in fp32 and in `dtype` (bf16/fp16 have no parity rule: they are bounded by
    how far they stray from fp32)."""
    import fastenc
    from tiny_checkpoints import padded_batch

    full, low = fastenc.load(folder), fastenc.load(folder, dtype=dtype)
    assert low.dtype == dtype
    ids, mask = padded_batch(full.config.vocab_size, lengths, full.config.pad_token_id)
    a = full(ids, attention_mask=mask).last_hidden_state
    b = low(ids, attention_mask=mask).last_hidden_state.float()
    keep = mask.bool()
    return torch.nn.functional.cosine_similarity(a[keep], b[keep], dim=-1).min().item()
