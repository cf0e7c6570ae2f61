"""ModernBERT's task heads: each runs the prediction head (dense -> activation -> LayerNorm) before its projection.

Per-token heads take (tokens (N, H) or (B, T, H), ops) as in fastenc.models.heads; the sequence classifier takes
(pooled (B, H), ops), each sequence pooled by the model as `classifier_pooling` says.
"""
import torch
import torch.nn.functional as F
from torch import nn

from ...config import EncoderConfig
from ...ops.reference import activation
from .norm import Norm


class PredictionHead(nn.Module):
    def __init__(self, config: EncoderConfig):
        super().__init__()
        H, options = config.hidden_size, config.modernbert
        self.dense = nn.Linear(H, H, bias=options.classifier_bias)
        self.act = activation(options.classifier_activation)
        self.norm = Norm(H, config.layer_norm_eps, options.norm_bias)

    def forward(self, x, ops):  # (..., H) -> (..., H)
        return self.norm(self.act(F.linear(x, self.dense.weight, self.dense.bias)), ops)


class MaskedLMHead(nn.Module):
    """Prediction head -> vocabulary projection (the decoder, tied to the token embeddings unless the config says)."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.head = PredictionHead(config)
        self.decoder = nn.Parameter(torch.empty(config.vocab_size, config.hidden_size))
        self.bias = nn.Parameter(torch.empty(config.vocab_size)) if config.modernbert.decoder_bias else None

    def forward(self, hidden, ops):  # (..., H) -> (..., vocab)
        return F.linear(self.head(hidden, ops), self.decoder, self.bias)


class SequenceClassifier(nn.Module):
    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.head = PredictionHead(config)
        self.out = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, pooled, ops):  # (B, H) -> (B, num_labels)
        return self.out(self.head(pooled, ops))


class TokenClassifierHead(nn.Module):
    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.head = PredictionHead(config)
        self.out = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, tokens, ops):  # (..., H) -> (..., num_labels)
        return self.out(self.head(tokens, ops))


class QuestionAnsweringHead(TokenClassifierHead):
    """Extractive QA: the token classifier's first logit starts the answer, the second ends it."""

    def forward(self, tokens, ops):  # (..., H) -> ((...), (...))
        start, end = super().forward(tokens, ops).split(1, dim=-1)
        return start.squeeze(-1).contiguous(), end.squeeze(-1).contiguous()


# Our head names (fastenc.models.registry) -> the module ModernBERT builds for each.
BUILDERS = {"mlm": MaskedLMHead, "classifier": SequenceClassifier, "token_classifier": TokenClassifierHead,
            "qa": QuestionAnsweringHead}
# Our parameter names under each head -> transformers' names (the `model.` prefix of the base model removed).
CHECKPOINT_NAMES = {
    "mlm": {"head.dense": "head.dense", "head.norm": "head.norm", "decoder": "decoder.weight",
            "bias": "decoder.bias"},
    **{name: {"head.dense": "head.dense", "head.norm": "head.norm", "out": "classifier"}
       for name in ("classifier", "token_classifier", "qa")},
}
