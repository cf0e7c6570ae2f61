"""Turning ids back into text, as the `tokenizers` decoders and transformers' `decode` do. Not a hot path."""
from functools import lru_cache

_CLEANUPS = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
             (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))


def wordpiece_cleanup(text: str) -> str:
    """The WordPiece decoder's `cleanup`, applied token by token (so " do not" can never match, as in HF)."""
    for dirty, clean in _CLEANUPS:
        text = text.replace(dirty, clean)
    return text


def clean_up_tokenization(text: str) -> str:
    """transformers' `clean_up_tokenization_spaces`, applied to the whole decoded string."""
    for dirty, clean in _CLEANUPS:
        if dirty != " do not":
            text = text.replace(dirty, clean)
    return text


def decode_wordpiece(tokens, prefix="##", cleanup=True) -> str:
    out = []
    for i, token in enumerate(tokens):
        if i != 0:
            token = token[len(prefix):] if prefix and token.startswith(prefix) else " " + token
        out.append(wordpiece_cleanup(token) if cleanup else token)
    return "".join(out)


@lru_cache(maxsize=1)
def unicode_to_byte() -> dict:
    mapping, next_cp = {}, 256
    for b in range(256):
        printable = ord("!") <= b <= ord("~") or 0xA1 <= b <= 0xAC or 0xAE <= b <= 0xFF
        if printable:
            mapping[chr(b)] = b
        else:
            mapping[chr(next_cp)] = b
            next_cp += 1
    return mapping


def decode_byte_level(tokens) -> str:
    table = unicode_to_byte()
    data = bytearray()
    for token in tokens:
        try:
            data.extend(table[c] for c in token)
        except KeyError:  # a token outside the byte alphabet (an added token) stands for its own UTF-8
            data.extend(token.encode("utf-8"))
    return data.decode("utf-8", errors="replace")
