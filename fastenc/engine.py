"""What `fastenc.load` returns: the model (a pure tensor module), its tokenizer, and the user-facing calls on them.

Calls on tensors go to the model (`engine(input_ids, attention_mask)`); calls on text go to the tasks
(fastenc.tasks) and to fairseq's hub interface (fastenc.compat.fairseq), which use the tokenizer and the model.
"""
import torch

from .compat import fairseq
from .models.bert.model import EncoderModel
from .tasks import classify, embed, fill_mask, mlm_eval, rerank, sparse, tag


class Engine:
    def __init__(self, model: EncoderModel, tokenizer=None, name_or_path: str = "", folder=None):
        self.model = model
        self.tokenizer = tokenizer  # fastenc.Tokenizer, or None for a folder without tokenizer files
        self.name_or_path = name_or_path
        self.folder = folder  # the local folder loaded from: embed reads its sentence-transformers files
        self.pooling_config = None  # read from `folder` on first use (fastenc.tasks.pooling_config)

    # The tensor module and its settings

    def __call__(self, *args, **kwargs):
        """The model's padded call; see EncoderModel.forward."""
        return self.model(*args, **kwargs)

    def __getattr__(self, name: str):
        # Tensor-level attributes (heads, embeddings, parameters(), padded_forward, ...) are the model's. Only called
        # for names the engine itself lacks; "model" is excluded so a half-built engine fails plainly.
        if name == "model":
            raise AttributeError(name)
        return getattr(self.model, name)

    @property
    def config(self):
        return self.model.config

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def dtype(self) -> torch.dtype:
        return self.model.dtype

    @property
    def max_length(self) -> int:
        return self.model.max_length

    @property
    def padding_free(self) -> bool:
        return self.model.padding_free

    @padding_free.setter
    def padding_free(self, value: bool) -> None:
        self.model.padding_free = value

    def to(self, *args, **kwargs) -> "Engine":
        self.model.to(*args, **kwargs)
        return self

    def set_backend(self, backend: str) -> "Engine":
        self.model.set_backend(backend)
        return self

    def enable_cuda_graphs(self, max_batch: int = 32, max_tokens: int = 8192, length_step: int = 32) -> "Engine":
        self.model.enable_cuda_graphs(max_batch, max_tokens, length_step)
        return self

    def __repr__(self):
        return (f"Engine({self.name_or_path!r}, {self.config.model_type}, task={self.config.task}, "
                f"device={self.device}, dtype={self.dtype}, backend={self.model.backend})")

    # fairseq's RoBERTa hub interface (fastenc/compat/fairseq.py)

    def encode(self, sentence: str, *addl_sentences: str):
        """1-D LongTensor of ids with special tokens; several sentences joined as the tokenizer joins pairs."""
        return fairseq.encode(self, sentence, *addl_sentences)

    def decode(self, tokens):
        """Text without special tokens (a list of texts when separators split several sentences)."""
        return fairseq.decode(self, tokens)

    def extract_features(self, tokens, return_all_hiddens: bool = False):
        """(B, T, H) last layer; with `return_all_hiddens` a list of num_layers + 1 tensors (embeddings first)."""
        return fairseq.extract_features(self, tokens, return_all_hiddens)

    def register_classification_head(self, name: str, num_classes: int, inner_dim: int | None = None):
        """Add a new (randomly initialised) dense-tanh-projection head, used by `predict(name, ...)`."""
        return fairseq.register_classification_head(self, name, num_classes, inner_dim)

    def predict(self, head: str, tokens, return_logits: bool = False):
        """(B, num_classes) log-probabilities from a named head (logits with `return_logits`)."""
        return fairseq.predict(self, head, tokens, return_logits)

    @property
    def classification_head_names(self) -> list:
        """Heads `predict` accepts: the checkpoint's own (e.g. "mnli") first, then registered ones."""
        return fairseq.head_names(self)

    def head_labels(self, head: str) -> list:
        """Label names of a head's classes, in index order (the checkpoint's id2label for its own head)."""
        return fairseq.head_labels(self, head)

    # transformers pipelines and large jobs (fastenc/tasks/)

    def fill_mask(self, texts, top_k: int = 5, batch_size=None, max_batch_tokens=None):
        """The fill-mask pipeline's records (score, token, token_str, sequence) for each mask token of each text."""
        return fill_mask.fill_mask(self, texts, top_k, batch_size, max_batch_tokens)

    def embed(self, texts, pooling: str | None = None, normalize: bool | None = None, batch_size=None,
              max_batch_tokens=None, progress=None):
        """(N, H) float32 CPU embeddings of any iterable of texts, streamed in length-sorted batches. pooling and
        normalize default to the checkpoint's sentence-transformers files (modules.json, 1_Pooling/config.json, a
        Normalize module), else CLS pooling without normalisation."""
        return embed.embed(self, texts, pooling, normalize, batch_size, max_batch_tokens, progress)

    def embed_sparse(self, texts, batch_size=None, max_batch_tokens=None):
        """SPLADE vectors of a masked-LM checkpoint: per text, [{"index", "value"}] of the non-zero entries of
        max over tokens of log(1 + relu(MLM logits)), in index order."""
        return sparse.embed_sparse(self, texts, batch_size, max_batch_tokens)

    def rerank(self, query: str, texts, raw_scores: bool = False, return_text: bool = False, batch_size=None,
               max_batch_tokens=None):
        """A cross-encoder's ranking of `texts` against `query`: [{"index", "score"(, "text")}], highest first."""
        return rerank.rerank(self, query, texts, raw_scores, return_text, batch_size, max_batch_tokens)

    def classify(self, texts, text_pairs=None, batch_size=None, max_batch_tokens=None):
        """{"label", "score", "scores"} per text from the checkpoint's sequence-classification head."""
        return classify.classify(self, texts, text_pairs, batch_size, max_batch_tokens)

    def tag(self, texts, batch_size=None, max_batch_tokens=None):
        """Entity groups per text (token-classification pipeline, aggregation_strategy="simple")."""
        return tag.tag(self, texts, batch_size, max_batch_tokens)

    def mlm_loss(self, texts, mlm_probability: float = 0.15, seed: int = 0, batch_size: int = 32) -> dict:
        """{"loss", "perplexity", "masked_tokens"} with DataCollatorForLanguageModeling's masking, deterministic."""
        return mlm_eval.mlm_loss(self, texts, mlm_probability, seed, batch_size)
