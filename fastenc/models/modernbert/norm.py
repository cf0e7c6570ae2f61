"""ModernBERT's LayerNorm, whose bias is optional (`norm_bias`), run through the bound ops."""
import torch
from torch import nn


class Norm(nn.Module):
    def __init__(self, width: int, eps: float, bias: bool):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.empty(width))
        self.bias = nn.Parameter(torch.empty(width)) if bias else None
        self._zeros = None  # the bias the fused kernels read when the checkpoint has none: adding 0 changes nothing

    def shift(self) -> torch.Tensor:
        if self.bias is not None:
            return self.bias
        w = self.weight
        if self._zeros is None or self._zeros.device != w.device or self._zeros.dtype != w.dtype:
            self._zeros = torch.zeros_like(w)
        return self._zeros

    def forward(self, x, ops):  # (..., H) -> (..., H)
        return ops.layer_norm(x, self.weight, self.shift(), self.eps)
