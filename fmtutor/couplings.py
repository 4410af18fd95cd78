"""Couplings of noise and data: independent pairs, or minibatch optimal transport (exact, scipy).

A coupling pi(x_0, x_1) is a joint law with marginals p (noise) and q (data). CFM trains with any
coupling: draw (x_0, x_1) ~ pi, put x_t = (1 - t) x_0 + t x_1 and regress onto x_1 - x_0.

* independent: pi = p x q, pairs as drawn;
* minibatch OT: inside each batch of B pairs, permute the data to minimise
  sum_i ||x_0[i] - x_1[s(i)]||^2.

This module also measures what OT changes: the mean squared pair distance (``transport_cost``),
how many straight segments x_0 -> x_1 cross (``count_crossings``), and the straightness of a
learned flow, S = E[ int_0^1 ||u_t(x_t)||^2 dt ] - E ||x_1 - x_0||^2 >= 0 (``flow_straightness``;
for a stored trajectory see ``fmtutor.trajectories.straightness``).

>>> x_0 = torch.tensor([[0.0, 0.0], [1.0, 0.0]]); x_1 = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
>>> ot_assignment(x_0, x_1).tolist(), count_crossings(x_0, x_1)
([1, 0], 1)
"""

__all__ = [
    "independent_coupling",
    "ot_assignment",
    "minibatch_ot_coupling",
    "brute_force_assignment",
    "transport_cost",
    "count_crossings",
    "coupling_stats",
    "Straightness",
    "flow_straightness",
]

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ._validate import (
    check_callable,
    check_points,
    check_positive_int,
    check_same_shape,
)
from .solvers import solve


def independent_coupling(x_0: Tensor, x_1: Tensor) -> tuple[Tensor, Tensor]:
    """Pairs noise and data as drawn: the independent coupling p(x_0) q(x_1)."""
    return x_0, x_1


def _pair(x_0: Any, x_1: Any) -> tuple[Tensor, Tensor]:
    x_0 = check_points(x_0, "x_0")
    x_1 = check_points(x_1, "x_1", like=x_0)
    check_same_shape(x_0, x_1, "x_0", "x_1")
    return x_0, x_1


def ot_assignment(x_0: Tensor, x_1: Tensor) -> Tensor:
    """The permutation s minimising sum_i ||x_0[i] - x_1[s(i)]||^2 (exact: linear_sum_assignment).

    Args:
        x_0, x_1: point sets of the same shape (B, d).

    Returns:
        Indices s of shape (B,) (int64) such that x_1[s] is the optimal partner of x_0.
    """
    x_0, x_1 = _pair(x_0, x_1)
    # imported here, not at the top: scipy.optimize would add about a third to `import fmtutor`
    from scipy.optimize import linear_sum_assignment

    cost = (torch.cdist(x_0.detach().double().cpu(), x_1.detach().double().cpu()) ** 2).numpy()
    rows, cols = linear_sum_assignment(cost)
    perm = np.empty_like(cols)
    perm[rows] = cols
    return torch.as_tensor(perm, dtype=torch.int64, device=x_0.device)


def minibatch_ot_coupling(x_0: Tensor, x_1: Tensor) -> tuple[Tensor, Tensor]:
    """Re-pair a minibatch by optimal transport: returns (x_0, x_1[s]) with s from ot_assignment.

    The total squared distance of the pairs never exceeds that of the independent (drawn) pairing.
    Use as ``train_cfm(..., coupling=minibatch_ot_coupling)``.
    """
    return x_0, x_1[ot_assignment(x_0, x_1)]


def brute_force_assignment(x_0: Tensor, x_1: Tensor) -> Tensor:
    """The OT permutation found by trying all B! of them (B <= 8): ot_assignment's slow reference.

    Args:
        x_0, x_1: point sets of the same shape (B, d), B <= 8.

    Returns:
        Indices s (B,) int64 minimising sum_i ||x_0[i] - x_1[s(i)]||^2 (the first minimiser found).
    """
    x_0, x_1 = _pair(x_0, x_1)
    b = x_0.shape[0]
    if b > 8:
        raise ValueError(f"x_0: brute force tries B! permutations; expected B <= 8, got B = {b}")
    cost = torch.cdist(x_0.double(), x_1.double()) ** 2
    perms = torch.tensor(list(itertools.permutations(range(b))), dtype=torch.int64)  # (B!, B)
    totals = cost[torch.arange(b), perms].sum(1)
    return perms[int(torch.argmin(totals))].to(x_0.device)


def transport_cost(x_0: Tensor, x_1: Tensor) -> float:
    """The mean squared length of the pairs, (1/B) sum_i ||x_1[i] - x_0[i]||^2.

    Args:
        x_0, x_1: the pairs' end points, shape (B, d).

    Returns:
        The mean, a float (computed in float64).
    """
    x_0, x_1 = _pair(x_0, x_1)
    return float(((x_1.double() - x_0.double()) ** 2).sum(1).mean())


def count_crossings(x_0: Tensor, x_1: Tensor) -> int:
    """How many pairs of segments x_0[i] -> x_1[i] and x_0[j] -> x_1[j] (i < j) intersect, in 2-D.

    Two segments cross when each one's end points lie strictly on opposite sides of the other's line
    (orientation test with cross products); touching or collinear segments are not counted.

    Args:
        x_0, x_1: start and end points, shape (B, 2).
    """
    x_0, x_1 = _pair(x_0, x_1)
    if x_0.shape[1] != 2:
        raise ValueError(f"x_0: expected 2-D points of shape (B, 2), got {tuple(x_0.shape)}")
    a, b = x_0.double(), x_1.double()
    d = b - a  # (B, 2)

    def orient(p: Tensor, q: Tensor) -> Tensor:
        """orient[i, j] = cross(d_i, q_j - p_i): the side of point q_j relative to segment i."""
        r = q[None, :, :] - p[:, None, :]
        return d[:, None, 0] * r[..., 1] - d[:, None, 1] * r[..., 0]

    s_start, s_end = orient(a, a), orient(a, b)  # sides of segment j's ends w.r.t. segment i
    split = (s_start * s_end) < 0  # segment j straddles line i
    cross = split & split.T
    return int(torch.triu(cross, diagonal=1).sum())


def coupling_stats(x_0: Tensor, x_1: Tensor) -> dict[str, float]:
    """Independent vs OT pairing of one batch: mean squared pair length and crossings of each.

    Args:
        x_0, x_1: a batch of noise and data points as drawn, shape (B, 2).

    Returns:
        dict with cost_independent, cost_ot, crossings_independent, crossings_ot.
    """
    x_0, x_1 = _pair(x_0, x_1)
    x_1ot = x_1[ot_assignment(x_0, x_1)]
    return {
        "cost_independent": transport_cost(x_0, x_1),
        "cost_ot": transport_cost(x_0, x_1ot),
        "crossings_independent": count_crossings(x_0, x_1),
        "crossings_ot": count_crossings(x_0, x_1ot),
    }


@dataclass
class Straightness:
    """S = kinetic - displacement (per sample and averaged) of a flow started at x_0.

    Attributes:
        value: mean S = E[int_0^1 ||u_t(x_t)||^2 dt] - E||x_1 - x_0||^2 (>= 0; 0 for straight
            paths travelled at uniform speed).
        kinetic: mean kinetic energy E int_0^1 ||u_t(x_t)||^2 dt.
        displacement: mean squared displacement E||x_1 - x_0||^2.
        per_sample: S of each particle, shape (B,).
        x_1: where the particles end, shape (B, d).
    """

    value: float
    kinetic: float
    displacement: float
    per_sample: Tensor
    x_1: Tensor


def flow_straightness(
    model: Callable[[Tensor, Any], Tensor],
    x_0: Tensor,
    n_steps: int = 100,
    method: str = "midpoint",
) -> Straightness:
    """How far the flow of ``model`` is from straight lines.

    S = E[int_0^1 ||u_t(x_t)||^2 dt] - E||x_1 - x_0||^2. Since x_1 - x_0 = int_0^1 u_t(x_t) dt,
    Jensen's inequality gives ||x_1 - x_0||^2 <= int ||u_t||^2 dt, with equality exactly when the
    particle moves along a straight line at constant speed. The energy is integrated together with x
    as one augmented ODE d/dt [x, e] = [u_t(x), ||u_t(x)||^2] by the course's solver; with Euler or
    midpoint steps the discrete S is >= 0 exactly (discrete Jensen).

    Args:
        model: velocity field ``model(x, t)``.
        x_0: starting points at t = 0, shape (B, d).
        n_steps: solver steps from t = 0 to 1.
        method: solver name ('euler', 'midpoint', 'heun', 'rk4').

    Returns:
        Straightness with the mean S, kinetic energy, displacement, per-sample S and the end points.
    """
    x_0 = check_points(x_0, "x_0")
    n_steps = check_positive_int(n_steps, "n_steps")
    check_callable(model, "model", "a velocity model(x, t)")
    d = x_0.shape[1]

    def augmented(y: Tensor, t: Tensor) -> Tensor:
        u = model(y[:, :d], t).to(y.dtype)
        return torch.cat([u, (u**2).sum(1, keepdim=True)], 1)

    y0 = torch.cat([x_0, torch.zeros(x_0.shape[0], 1, dtype=x_0.dtype, device=x_0.device)], 1)
    y1 = solve(augmented, y0, method=method, n_steps=n_steps).x
    x_1, kinetic = y1[:, :d], y1[:, d]
    disp = ((x_1 - x_0) ** 2).sum(1)
    per = (kinetic - disp).detach().cpu()
    return Straightness(
        float(per.mean()), float(kinetic.mean()), float(disp.mean()), per, x_1.detach().cpu()
    )
