"""The training loss: mean next-token cross entropy, skipping targets of -1 (padding).

Numerically it is ``F.cross_entropy(logits, targets, ignore_index=-1)``; in eager mode its
backward writes the gradient into the saved log-probabilities instead of a fresh block, which
is a tenth of a ``tiny`` training step on a CPU (see ``bench/train_throughput.py``). Imports
torch only.

Example::

    >>> logits = torch.randn(6, 11, requires_grad=True)
    >>> targets = torch.tensor([3, -1, 0, 10, 2, -1])
    >>> ours = cross_entropy(logits, targets)
    >>> ref = F.cross_entropy(logits, targets, ignore_index=-1)
    >>> bool(torch.allclose(ours, ref))
    True
    >>> (g,) = torch.autograd.grad(ours, logits)
    >>> (r,) = torch.autograd.grad(ref, logits)
    >>> bool(torch.allclose(g, r, atol=1e-7))
    True
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross entropy of logits (N, V) against targets (N,), skipping targets of -1:
    ``F.cross_entropy(..., ignore_index=-1)``, with a leaner backward in eager mode.

    Under ``torch.compile`` the compiler fuses the library's loss itself.
    """
    if torch.compiler.is_compiling():
        return F.cross_entropy(logits, targets, ignore_index=-1)
    return _CrossEntropy.apply(logits, targets)


class _CrossEntropy(torch.autograd.Function):
    """The gradient softmax(z) - onehot(target), computed in place in the saved
    log-probabilities: two passes over the (N, V) block and no new one, where the library's
    backward zero-fills a fresh block, scatters into it and reads two more.

    The in-place exp bumps the saved tensor's version, so a second backward through the
    same loss (retain_graph) fails loudly instead of reading exponentiated values.
    """

    @staticmethod
    def forward(ctx, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        # (N, V), in float32 at least: bf16 log-probabilities lose the small ones.
        dtype = torch.promote_types(logits.dtype, torch.float32)
        logp = torch.log_softmax(logits, dim=-1, dtype=dtype)
        keep = targets != -1
        safe = torch.where(keep, targets, 0)[:, None]  # (N, 1): -1 -> any valid index
        count = keep.sum()
        ctx.save_for_backward(logp, safe, keep, count)
        return -(logp.gather(1, safe).squeeze(1) * keep).sum() / count

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        logp, safe, keep, count = ctx.saved_tensors
        scale = (grad / count * keep)[:, None].to(logp.dtype)  # (N, 1); 0 for skipped rows
        dlogits = logp.exp_().mul_(scale)  # softmax * scale, in place
        return dlogits.scatter_add_(1, safe, -scale), None
