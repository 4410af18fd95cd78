"""Classifier-free guidance: u_w(x, t | y) = u(x, t | null) + w (u(x, t | y) - u(x, t | null))."""

__all__ = ["CFGVelocity"]

from typing import Any

import torch
from torch import Tensor, nn


class CFGVelocity(nn.Module):
    """Wrap a class-conditional model into a guided velocity ``field(x, t)`` for the solvers.

    u_w = u_uncond + w (u_cond - u_uncond): w = 0 is the unconditional model, w = 1 the conditional
    one, w > 1 pushes samples further towards their class (sharper, less diverse).

    Args:
        model: a network ``model(x, t, y)`` trained with label dropout; y=None means "no label".
        y: the labels, an int or a tensor of shape (B,).
        w: the guidance weight.
    """

    def __init__(self, model: nn.Module, y: Any, w: float = 1.0) -> None:
        super().__init__()
        if not isinstance(w, (int, float)) or isinstance(w, bool):
            raise TypeError(f"w: expected a number, got {w!r}")
        self.model, self.y, self.w = model, y, float(w)

    def forward(self, x: Tensor, t: Any) -> Tensor:
        """The guided velocity, shape (B, d)."""
        y = torch.as_tensor(self.y, device=x.device)
        if y.ndim == 0:
            y = y.expand(x.shape[0])
        cond = self.model(x, t, y)
        if self.w == 1.0:
            return cond
        uncond = self.model(x, t, None)
        return uncond + self.w * (cond - uncond)
