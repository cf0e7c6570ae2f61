"""One DeBERTa-v2 layer: BERT's post-LayerNorm layer whose attention adds the relative-position terms."""
import torch.nn.functional as F
from torch import nn

from ...config import EncoderConfig
from ...ops.disentangled import disentangled_probs
from ..bert.layer import EncoderLayer


class DebertaLayer(EncoderLayer):
    def __init__(self, config: EncoderConfig):
        super().__init__(config)
        settings = config.deberta
        H = config.hidden_size
        self.terms = settings.terms
        self.share_att_key = settings.share_att_key
        self.softmax_scale = (config.head_dim * settings.scale_factor) ** -0.5
        # Own projections of the relative embeddings unless share_att_key reuses the content query/key matrices.
        own = not settings.share_att_key
        self.pos_key = nn.Linear(H, H) if own and "c2p" in self.terms else None
        self.pos_query = nn.Linear(H, H) if own and "p2c" in self.terms else None

    def position_projections(self, rel):
        """rel (2S, H) relative embeddings -> (pos_key, pos_query), each (2S, nh, hd) or None where its term is off."""
        H = rel.shape[-1]
        shape = (rel.shape[0], self.num_heads, self.head_dim)  # (2S, nh, hd)
        pos_key = pos_query = None
        if "c2p" in self.terms:
            weight, bias = ((self.qkv.weight[H:2 * H], self.qkv.bias[H:2 * H]) if self.share_att_key
                            else (self.pos_key.weight, self.pos_key.bias))
            pos_key = F.linear(rel, weight, bias).view(shape)
        if "p2c" in self.terms:
            weight, bias = ((self.qkv.weight[:H], self.qkv.bias[:H]) if self.share_att_key
                            else (self.pos_query.weight, self.pos_query.bias))
            pos_query = F.linear(rel, weight, bias).view(shape)
        return pos_key, pos_query

    def attend(self, q, k, v, attention_args: dict, ops, return_attention: bool):
        """attention_args carries the packed/padded layout plus `rel` (2S, H) (None without relative attention) and
        `relative_index` (fastenc.ops.disentangled.relative_index)."""
        args = dict(attention_args)
        rel, relative_index = args.pop("rel"), args.pop("relative_index")
        pos_key, pos_query = self.position_projections(rel) if self.terms else (None, None)
        if return_attention:  # padded only: the weights as a matrix, from the reference
            probs = disentangled_probs(q, k, pos_key, pos_query, relative_index, args.get("key_padding_mask"),
                                       self.softmax_scale)  # (B, nh, T, T)
            return (probs @ v.transpose(1, 2).float()).transpose(1, 2).to(q.dtype), probs  # (B, T, nh, hd)
        context = ops.disentangled_attention(q, k, v, pos_key, pos_query, relative_index=relative_index,
                                             softmax_scale=self.softmax_scale, **args)
        return context, None
