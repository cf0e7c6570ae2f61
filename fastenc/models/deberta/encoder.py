"""DeBERTa-v2's stack: the relative embedding table (optionally LayerNormed), the layers, and the optional conv
branch that transformers adds to the first layer's output."""
import torch
import torch.nn.functional as F
from torch import nn

from ...config import EncoderConfig
from ...ops.disentangled import relative_index
from ...ops.reference import activation
from .layer import DebertaLayer


class ConvBranch(nn.Module):
    """LayerNorm(first layer's output + act(conv1d(embeddings))), the conv zero-padded at every sequence's ends."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        settings, H = config.deberta, config.hidden_size
        self.conv = nn.Conv1d(H, H, settings.conv_kernel_size, padding=(settings.conv_kernel_size - 1) // 2,
                              groups=settings.conv_groups)
        self.norm = nn.LayerNorm(H, eps=config.layer_norm_eps)
        self.act = activation(settings.conv_act)

    def forward(self, embedded, layer_out, attention_args: dict, ops):
        cu_seqlens = attention_args.get("cu_seqlens")
        if cu_seqlens is not None:
            out = self._packed_conv(embedded, cu_seqlens)  # (N, H)
        else:
            mask = attention_args.get("key_padding_mask")
            if mask is not None:  # transformers zeroes padded embeddings: the conv must not see them
                embedded = embedded * mask[..., None].to(embedded.dtype)
            out = self.conv(embedded.transpose(1, 2)).transpose(1, 2).contiguous()  # (B, T, H), rows contiguous
            # for the fused LayerNorm, which reads each row as one run of memory
        out = self.act(out)
        return ops.layer_norm(out, self.norm.weight, self.norm.bias, self.norm.eps, residual=layer_out)

    def _packed_conv(self, x, cu_seqlens):
        """The conv over each packed sequence alone: every token's window of k neighbours, zero outside its own
        sequence, convolved as a batch of length-k inputs."""
        N, k = x.shape[0], self.conv.kernel_size[0]
        lengths = (cu_seqlens[1:] - cu_seqlens[:-1]).long()
        seq = torch.repeat_interleave(torch.arange(len(lengths), device=x.device), lengths, output_size=N)  # (N,)
        offsets = torch.arange(k, device=x.device) - (k - 1) // 2  # (k,)
        src = torch.arange(N, device=x.device)[:, None] + offsets[None, :]  # (N, k) neighbour rows
        safe = src.clamp(0, N - 1)
        inside = (src >= 0) & (src < N) & (seq[safe] == seq[:, None])  # (N, k) same sequence
        windows = x[safe] * inside[..., None].to(x.dtype)  # (N, k, H)
        return F.conv1d(windows.transpose(1, 2), self.conv.weight, self.conv.bias,
                        groups=self.conv.groups).squeeze(-1)  # (N, H)


class DebertaEncoder(nn.Module):
    def __init__(self, config: EncoderConfig):
        super().__init__()
        settings = self.settings = config.deberta
        self.layers = nn.ModuleList(DebertaLayer(config) for _ in range(config.num_layers))
        H = config.hidden_size
        self.rel_embeddings = nn.Embedding(2 * settings.span, H) if settings.relative_attention else None
        self.rel_norm = nn.LayerNorm(H, eps=config.layer_norm_eps) if settings.norm_rel_ebd else None
        self.conv = ConvBranch(config) if settings.conv_kernel_size else None

    def relative_embeddings(self, ops, rows: slice):
        """The `rows` of the (2S, H) relative embeddings as every layer reads them, or None without relative
        attention."""
        if self.rel_embeddings is None:
            return None
        rel = self.rel_embeddings.weight[rows]  # LayerNorm is per row: normalising only the rows read is the same
        if self.rel_norm is not None:
            rel = ops.layer_norm(rel, self.rel_norm.weight, self.rel_norm.bias, self.rel_norm.eps)
        return rel

    def forward(self, x, attention_args: dict, ops, output_hidden_states: bool = False,
                output_attentions: bool = False):
        """As fastenc.models.bert.encoder.Encoder: (last hidden state, hidden states or None, attentions or None)."""
        length = attention_args.get("max_seqlen") or x.shape[-2]  # packed: longest sequence; padded: T
        s = self.settings
        # Distances of at most length - 1 read a contiguous window of the 2S relative rows (buckets grow with the
        # distance): only those rows are projected, and every position table is that much narrower. The window is
        # found on the host, from the same bucketing, so the device needs no sync.
        window = relative_index(length, s.span, s.position_buckets, s.max_relative_positions, device="cpu")
        low, high = int(window.min()), int(window.max())
        index = relative_index(length, s.span, s.position_buckets, s.max_relative_positions, device=x.device) - low
        layer_args = {**attention_args, "rel": self.relative_embeddings(ops, slice(low, high + 1)),
                      "relative_index": index}
        embedded = x
        hidden_states = [x] if output_hidden_states else None
        attentions = [] if output_attentions else None
        for i, layer in enumerate(self.layers):
            x, probs = layer(x, layer_args, ops, output_attentions)
            if i == 0 and self.conv is not None:
                x = self.conv(embedded, x, attention_args, ops)
            if output_hidden_states:
                hidden_states.append(x)
            if output_attentions:
                attentions.append(probs)
        return x, hidden_states, attentions
