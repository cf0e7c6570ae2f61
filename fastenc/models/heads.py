"""Task heads on top of the encoder: pooler, masked-LM, next-sentence, replaced-token detection, classification,
tagging, extractive QA.

Two signatures, as `fastenc.models.registry` records for each head: per-token heads take (tokens (N, H) or
(B, T, H), ops); per-sequence heads take (first (B, H): each sequence's first token, pooled (B, H) or None).
"""
import torch
import torch.nn.functional as F
from torch import nn

from ..config import EncoderConfig
from ..ops.reference import activation


class Pooler(nn.Module):
    """BERT/ALBERT: tanh(dense(first token)), the input of NSP and of their sequence classifiers. DeBERTa's
    ContextPooler is the same with its pooler_hidden_act."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.act = activation(config.deberta.pooler_hidden_act) if config.deberta is not None else torch.tanh

    def forward(self, first_token, pooled=None):  # (B, H) -> (B, H)
        return self.act(self.dense(first_token))


class MaskedLMHead(nn.Module):
    """dense -> activation -> LayerNorm -> vocabulary projection (decoder usually tied to the word embeddings)."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        # ALBERT (and DeBERTa's legacy head) project down to the embedding width before the (tied) decoder; the
        # others stay at hidden size.
        width = config.embedding_size
        self.transform = nn.Linear(config.hidden_size, width)
        # RoBERTa's, ELECTRA's generator, GTE's and MPNet's heads always use exact GELU; the others the model's.
        exact = config.family in ("roberta", "electra", "gte", "mpnet")
        self.act = activation("gelu" if exact else config.hidden_act)
        self.norm = nn.LayerNorm(width, eps=config.layer_norm_eps)
        self.decoder = nn.Parameter(torch.empty(config.vocab_size, width))
        self.bias = nn.Parameter(torch.empty(config.vocab_size))

    def forward(self, hidden, ops):  # (..., H) -> (..., vocab)
        x = self.act(self.transform(hidden))
        x = ops.layer_norm(x, self.norm.weight, self.norm.bias, self.norm.eps)
        return F.linear(x, self.decoder, self.bias)


class SequenceClassifier(nn.Module):
    """Logits for the whole sequence.

    BERT/ALBERT/DeBERTa classify the pooler output; RoBERTa and MPNet run dense + tanh on the first token; DistilBERT
    dense + ReLU; ELECTRA dense + GELU.
    """

    def __init__(self, config: EncoderConfig, num_outputs: int):
        super().__init__()
        H = config.hidden_size
        self.from_pooler = config.family in ("bert", "albert", "deberta-v2", "gte", "nomic_bert")
        self.dense = None if self.from_pooler else nn.Linear(H, H)
        # ELECTRA's head uses exact GELU where BERT's pooler has tanh.
        self.dense_act = {"distilbert": torch.relu, "electra": F.gelu}.get(config.family, torch.tanh)
        self.out = nn.Linear(H, num_outputs)

    def forward(self, first_token, pooled):  # (B, H), (B, H) or None -> (B, num_outputs)
        if self.from_pooler:
            return self.out(pooled)
        return self.out(self.dense_act(self.dense(first_token)))


class SentencePairHead(nn.Linear):
    """BERT's next-sentence prediction / ALBERT's sentence-order prediction: two logits from the pooler output."""

    def __init__(self, config: EncoderConfig):
        super().__init__(config.hidden_size, 2)

    def forward(self, first_token, pooled):  # (B, H), (B, H) -> (B, 2)
        return super().forward(pooled)


class DiscriminatorHead(nn.Module):
    """ELECTRA's replaced-token detector: dense -> activation -> one logit per token."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.act = activation(config.hidden_act)
        self.out = nn.Linear(config.hidden_size, 1)

    def forward(self, tokens, ops):  # (..., H) -> (...)
        return self.out(self.act(self.dense(tokens))).squeeze(-1)


class TokenClassifierHead(nn.Linear):
    """One logit per label for every token (NER tagging)."""

    def __init__(self, config: EncoderConfig):
        super().__init__(config.hidden_size, config.num_labels)

    def forward(self, tokens, ops):  # (..., H) -> (..., num_labels)
        return super().forward(tokens)


class QuestionAnsweringHead(nn.Linear):
    """Extractive QA: a start and an end logit for every token."""

    def __init__(self, config: EncoderConfig):
        super().__init__(config.hidden_size, 2)

    def forward(self, tokens, ops):  # (..., H) -> ((...), (...)) start and end logits
        start, end = super().forward(tokens).unbind(-1)
        return start.contiguous(), end.contiguous()
