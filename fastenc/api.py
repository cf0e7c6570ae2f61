"""The user-facing methods of a loaded model (hub interface, fill-mask, embeddings, classification, MLM evaluation).

EncoderModel inherits them; each lives in its own module and is attached here.
"""


class EncoderAPI:
    """Mixin of EncoderModel: high-level calls built on `self.tokenizer` and `self.__call__`."""
