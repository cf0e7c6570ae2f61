"""The user-facing methods of a loaded model (hub interface, fill-mask, embeddings, classification, MLM evaluation).

EncoderModel inherits them; each lives in its own module and is attached here.
"""
from .compat import fairseq as hub_interface
from .tasks import classify, embed, fill_mask, mlm_eval, tag


class EncoderAPI:
    """Mixin of EncoderModel: high-level calls built on `self.tokenizer` and `self.__call__`."""

    # fairseq's RoBERTa hub interface (fastenc/hub_interface.py)

    def encode(self, sentence: str, *addl_sentences: str):
        """1-D LongTensor of ids with special tokens; several sentences joined as the tokenizer joins pairs."""
        return hub_interface.encode(self, sentence, *addl_sentences)

    def decode(self, tokens):
        """Text without special tokens (a list of texts when separators split several sentences)."""
        return hub_interface.decode(self, tokens)

    def extract_features(self, tokens, return_all_hiddens: bool = False):
        """(B, T, H) last layer; with `return_all_hiddens` a list of num_layers + 1 tensors (embeddings first)."""
        return hub_interface.extract_features(self, tokens, return_all_hiddens)

    def register_classification_head(self, name: str, num_classes: int, inner_dim: int | None = None):
        """Add a new (randomly initialised) dense-tanh-projection head, used by `predict(name, ...)`."""
        return hub_interface.register_classification_head(self, name, num_classes, inner_dim)

    def predict(self, head: str, tokens, return_logits: bool = False):
        """(B, num_classes) log-probabilities from a named head (logits with `return_logits`)."""
        return hub_interface.predict(self, head, tokens, return_logits)

    @property
    def classification_head_names(self) -> list:
        """Heads `predict` accepts: the checkpoint's own (e.g. "mnli") first, then registered ones."""
        return hub_interface.head_names(self)

    def head_labels(self, head: str) -> list:
        """Label names of a head's classes, in index order (the checkpoint's id2label for its own head)."""
        return hub_interface.head_labels(self, head)

    # transformers pipelines (fastenc/fill_mask.py, classify.py, tag.py) and large jobs (embed.py)

    def fill_mask(self, texts, top_k: int = 5, batch_size=None, max_batch_tokens=None):
        """The fill-mask pipeline's records (score, token, token_str, sequence) for each mask token of each text."""
        return fill_mask.fill_mask(self, texts, top_k, batch_size, max_batch_tokens)

    def embed(self, texts, pooling: str = "cls", normalize: bool = False, batch_size=None, max_batch_tokens=None,
              progress=None):
        """(N, H) float32 CPU embeddings of any iterable of texts, streamed in length-sorted batches."""
        return embed.embed(self, texts, pooling, normalize, batch_size, max_batch_tokens, progress)

    def classify(self, texts, text_pairs=None, batch_size=None, max_batch_tokens=None):
        """{"label", "score", "scores"} per text from the checkpoint's sequence-classification head."""
        return classify.classify(self, texts, text_pairs, batch_size, max_batch_tokens)

    def tag(self, texts, batch_size=None, max_batch_tokens=None):
        """Entity groups per text (token-classification pipeline, aggregation_strategy="simple")."""
        return tag.tag(self, texts, batch_size, max_batch_tokens)

    # MLM evaluation (fastenc/mlm_eval.py)

    def mlm_loss(self, texts, mlm_probability: float = 0.15, seed: int = 0, batch_size: int = 32) -> dict:
        """{"loss", "perplexity", "masked_tokens"} with DataCollatorForLanguageModeling's masking, deterministic."""
        return mlm_eval.mlm_loss(self, texts, mlm_probability, seed, batch_size)
