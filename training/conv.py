"""The hybrid model's token mixer: a gated, causal, depthwise short convolution.

Owns :class:`ConvMixer`, the token mixer of the hybrid architecture's non-attention
blocks (``model.arch: hybrid``): the short causal convolution of H3, Hyena and Mamba with
Mamba's multiplicative SiLU gate branch, and no state-space layer behind it. Per token it
costs a few multiply-adds per channel instead of attention's O(context), and a decoder
needs only the last ``conv_kernel - 1`` inputs of each channel (the decode state), not a
growing K/V cache.

    value, gate = split(x W_in)                    two n_embd-wide halves, one matmul
    y_t = sum_{j<K} w_j * value_{t-j}              per channel; value_{<0} = 0 (causal)
    out = (y * SiLU(gate)) W_out

Example::

    >>> import torch
    >>> from training.conv import ConvMixer
    >>> mixer = ConvMixer(n_embd=8, kernel=4)
    >>> x = torch.randn(1, 5, 8)
    >>> y = mixer(x)
    >>> y.shape
    torch.Size([1, 5, 8])
    >>> state = torch.zeros(1, 8, 3)  # (B, C, kernel - 1): the decode state
    >>> steps = [mixer(x[:, t:t + 1], state=state) for t in range(5)]
    >>> torch.allclose(torch.cat(steps, dim=1), y, atol=1e-6)
    True
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvMixer(nn.Module):
    """x (B, T, C) -> (B, T, C): in-projection, causal depthwise conv, SiLU gate, out-projection.

    ``state`` (B, C, kernel - 1), when given, holds the inputs before this call's first
    token (zeros at the start of a sequence) and is updated in place to the last
    ``kernel - 1`` inputs, so calling token by token equals one call over the whole sequence.
    """

    def __init__(self, n_embd: int, kernel: int) -> None:
        super().__init__()
        self.kernel = kernel
        self.inp = nn.Linear(n_embd, 2 * n_embd, bias=False)  # value and gate: one matmul
        # groups=C: one K-tap filter per channel (depthwise); tokens mix, channels do not.
        # PyTorch's default init (uniform, bound 1/sqrt(K)) keeps the filter's output at the
        # input's scale; N(0, 0.02) would shrink every conv block's signal fifty-fold.
        self.conv = nn.Conv1d(n_embd, n_embd, kernel, groups=n_embd, bias=False)
        self.out = nn.Linear(n_embd, n_embd, bias=False)  # residual projection (scaled init)

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None) -> torch.Tensor:
        value, gate = self.inp(x).chunk(2, dim=-1)  # (B, T, C) each
        value = value.transpose(1, 2)  # (B, C, T): Conv1d's layout
        if state is None:  # left zero padding: position t sees t-K+1 .. t only
            window = F.pad(value, (self.kernel - 1, 0))  # (B, C, K-1+T)
        else:
            window = torch.cat((state.to(value.dtype), value), dim=-1)  # (B, C, K-1+T)
            state.copy_(window[..., window.shape[-1] - state.shape[-1]:])
        y = F.conv1d(window, self.conv.weight, groups=self.conv.groups)  # (B, C, T)
        return self.out(y.transpose(1, 2) * F.silu(gate))  # (B, T, C)
