"""Fixed inputs shared by several exercises' checks, in the time convention of exercises.py."""

__all__ = ["cases_xt", "cases_step"]

from collections.abc import Callable

import torch
from torch import Tensor


def cases_xt() -> list[tuple[Tensor, Tensor, Tensor]]:
    """Fixed inputs (x (B, 2), x1 (B, 2), t (B, 1)) of the exercises on x_t and u_t(x | x_1)."""
    g = torch.Generator().manual_seed(1)
    x1 = torch.randn(6, 2, generator=g)
    x = torch.randn(6, 2, generator=g)
    t = torch.tensor([0.05, 0.1, 0.3, 0.5, 0.8, 0.95])[:, None]
    return [(x, x1, t), (x[:1], x1[:1], torch.tensor([[0.6]]))]


def cases_step() -> list[tuple[Callable[[Tensor, Tensor], Tensor], Tensor, Tensor, Tensor]]:
    """Fixed inputs (field, x (B, 2), t, h; t and h 0-dim) of the exercises on one solver step."""
    g = torch.Generator().manual_seed(2)
    x = torch.randn(5, 2, generator=g)

    def field(x: Tensor, t: Tensor) -> Tensor:  # rotation plus a time-dependent drift
        return torch.stack([-x[:, 1], x[:, 0]], 1) + 2 * t * x

    return [
        (field, x, torch.tensor(0.2), torch.tensor(0.1)),
        (field, x, torch.tensor(0.7), torch.tensor(0.25)),
    ]
