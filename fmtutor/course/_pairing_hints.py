"""The typical slips of chapter 7's exercises (OT pairing, straightness), each with its hint."""

from __future__ import annotations

__all__ = ["ot_pairing_mistakes", "straightness_mistakes"]

from collections.abc import Callable

import torch
from torch import Tensor

from fmtutor.couplings import brute_force_assignment
from fmtutor.course._mistakes import permutation_by
from fmtutor.course.i18n import tr


def ot_pairing_mistakes() -> dict[str, Callable[[Tensor, Tensor], Tensor]]:
    """Hint (a tr message) -> the wrong pairing(x0, x1) it names."""
    return {
        tr(
            "that is the pairing as drawn (s = 0, 1, ..., B-1), the independent coupling: search "
            "over permutations."
        ): lambda x0, x1: torch.arange(x0.shape[0]),
        tr(
            "you returned the inverse permutation: s[i] must be the index of the data point given "
            "to noise point i, so that x1[s] lines up with x0 (try torch.argsort of your answer)."
        ): lambda x0, x1: torch.argsort(brute_force_assignment(x0, x1)),
        tr(
            "you used distances ||x0 - x1||; the OT cost of flow matching is the squared distance "
            "||x0 - x1||^2."
        ): lambda x0, x1: permutation_by(x0, x1, power=1),
        tr("you maximised the total cost: keep the permutation with the smallest sum."): (
            lambda x0, x1: permutation_by(x0, x1, largest=True)
        ),
    }


def straightness_mistakes() -> dict[str, Callable[[Tensor], Tensor]]:
    """Hint (a tr message) -> the wrong straightness(traj) it names; traj (T + 1, B, d)."""

    def energy(traj: Tensor, scale: float) -> Tensor:
        return ((traj[1:] - traj[:-1]) ** 2).sum(-1).sum(0) * scale

    def disp(traj: Tensor) -> Tensor:  # the squared displacement
        return ((traj[-1] - traj[0]) ** 2).sum(-1)

    return {
        tr(
            "the 1/h is missing: the velocity on a step is (x_{k+1} - x_k) / h, and the time "
            "integral adds h ||v_k||^2, so each squared step is divided by h once."
        ): lambda p: energy(p, 1.0) - disp(p),
        tr(
            "you divided the squared steps by h^2: that is sum ||v_k||^2 without the dt = h of "
            "the time integral."
        ): lambda p: energy(p, (p.shape[0] - 1) ** 2) - disp(p),
        tr(
            "you forgot to subtract the squared displacement ||x_T - x_0||^2 (S = energy - "
            "displacement)."
        ): lambda p: energy(p, p.shape[0] - 1),
        tr("the displacement must be squared: ||x_T - x_0||^2, not ||x_T - x_0||."): (
            lambda p: energy(p, p.shape[0] - 1) - disp(p).sqrt()
        ),
        tr(
            "you used T + 1 (the number of grid points) for 1/h; there are T = traj.shape[0] - 1 "
            "steps."
        ): lambda p: energy(p, p.shape[0]) - disp(p),
    }
