"""Typical wrong answers to the exercises, computed, so that a check can recognise and name them."""

from __future__ import annotations

__all__ = [
    "cfm_loss_with",
    "train_step_with",
    "heun_step",
    "permutation_by",
    "greedy_pairing",
    "pairing_cost",
    "pairing_gap",
]

import itertools
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from fmtutor.course.i18n import tr


def cfm_loss_with(slip: str = "") -> Callable[..., Tensor]:
    """The CFM loss mean_i ||net(x_t, t) - (x1 - x0)||^2 with one typical slip (none for '').

    Slips: 'time' (x_t = t x0 + (1 - t) x1), 'target' (x0 - x1), 'x1' (target x1), 'mse' (mean
    over coordinates too), 'norm' (||.|| not squared), 'sum' (summed over the batch), 'x0' (the
    network evaluated at x0 instead of x_t). x0, x1 of shape (B, d); t of shape (B, 1).
    """

    def loss(net: Callable[..., Tensor], x0: Tensor, x1: Tensor, t: Tensor) -> Tensor:
        xt = t * x0 + (1 - t) * x1 if slip == "time" else (1 - t) * x0 + t * x1
        target = x0 - x1 if slip == "target" else x1 if slip == "x1" else x1 - x0
        r = (net(x0 if slip == "x0" else xt, t) - target) ** 2
        if slip == "mse":
            return r.mean()
        per_row = r.sum(1).sqrt() if slip == "norm" else r.sum(1)
        return per_row.sum() if slip == "sum" else per_row.mean()

    return loss


def train_step_with(slip: str) -> Callable[..., float]:
    """A training step with one slip: a cfm_loss_with slip, or 'zero_grad' or 'update' left out."""

    def step(net: Callable[..., Tensor], opt: Any, x0: Tensor, x1: Tensor, t: Tensor) -> float:
        loss = cfm_loss_with(slip)(net, x0, x1, t)
        if slip != "zero_grad":
            opt.zero_grad()
        loss.backward()
        if slip != "update":
            opt.step()
        return loss.item()

    return step


def heun_step(u: Callable[[Tensor, Tensor], Tensor], x: Tensor, t: Tensor, h: Tensor) -> Tensor:
    """Heun's step x + (h/2) (u(x, t) + u(x + h u(x, t), t + h)): second order, not the midpoint."""
    k1 = u(x, t)
    return x + 0.5 * h * (k1 + u(x + h * k1, t + h))


def permutation_by(x0: Tensor, x1: Tensor, power: float = 2, largest: bool = False) -> Tensor:
    """The brute-force pairing (B,) for the cost ||x0[i] - x1[s[i]]||^power, smallest or largest."""
    cost = torch.cdist(x0.double(), x1.double()) ** power
    perms = torch.tensor(list(itertools.permutations(range(x0.shape[0]))), dtype=torch.int64)
    totals = cost[torch.arange(x0.shape[0]), perms].sum(1)
    return perms[int(totals.argmax() if largest else totals.argmin())]


def greedy_pairing(x0: Tensor, x1: Tensor) -> Tensor:
    """Each noise point in turn takes the nearest data point still free: s (B,) int64, not OT."""
    cost = torch.cdist(x0.double(), x1.double())
    free, s = list(range(x1.shape[0])), []
    for i in range(x0.shape[0]):
        j = min(free, key=lambda k: float(cost[i, k]))
        free.remove(j)
        s.append(j)
    return torch.tensor(s, dtype=torch.int64)


def pairing_cost(x0: Tensor, x1: Tensor, s: Tensor) -> float:
    """The total squared distance sum_i ||x0[i] - x1[s[i]]||^2 of a pairing s (B,)."""
    return float(((x0.double() - x1.double()[s]) ** 2).sum())


def pairing_gap(
    s: Any, x0: Tensor, x1: Tensor, optimal: Callable[[Tensor, Tensor], Tensor]
) -> "tuple[str, str] | None":
    """(status, message) when s is a permutation costlier than optimal(x0, x1), else None.

    The message gives the two total costs and their gap, and names the greedy pairing.
    """
    if not isinstance(s, Tensor) or s.shape != (x0.shape[0],) or s.is_floating_point():
        return None
    best = optimal(x0, x1)
    if not torch.equal(torch.sort(s).values, torch.arange(len(s))) or torch.equal(s, best):
        return None
    mine, low = pairing_cost(x0, x1, s), pairing_cost(x0, x1, best)
    greedy = torch.equal(s, greedy_pairing(x0, x1))
    why = (
        tr(
            "That is the greedy pairing (each noise point takes the nearest free data point): an "
            "early cheap choice can force a dear one later. Compare whole permutations."
        )
        if greedy
        else tr("Compare the total cost of every permutation and keep the smallest.")
    )
    return ("greedy" if greedy else "costlier"), tr(
        "your s is a permutation, but not the cheapest one: its total cost "
        "sum_i ||x0[i] - x1[s[i]]||^2 is {mine:.3f} where the optimum is {low:.3f} "
        "({more:.0f}% more). {why}",
        mine=mine,
        low=low,
        more=100 * (mine / low - 1),
        why=why,
    )
