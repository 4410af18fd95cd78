"""Couplings of noise and data: independent pairs, or minibatch optimal transport (exact, with scipy)."""

__all__ = ["independent_coupling", "ot_assignment", "minibatch_ot_coupling"]

import numpy as np
import torch
from torch import Tensor

from ._validate import check_points, check_same_shape
from .training import independent_coupling


def ot_assignment(x_0: Tensor, x_1: Tensor) -> Tensor:
    """The permutation s minimising sum_i ||x_0[i] - x_1[s(i)]||^2 (exact, scipy's linear_sum_assignment).

    Args:
        x_0, x_1: point sets of the same shape (B, d).

    Returns:
        Indices s of shape (B,) (int64) such that x_1[s] is the optimal partner of x_0.
    """
    x_0, x_1 = check_points(x_0, "x_0"), check_points(x_1, "x_1", like=x_0)
    check_same_shape(x_0, x_1, "x_0", "x_1")
    from scipy.optimize import linear_sum_assignment

    cost = (torch.cdist(x_0.detach().double().cpu(), x_1.detach().double().cpu()) ** 2).numpy()
    rows, cols = linear_sum_assignment(cost)
    perm = np.empty_like(cols)
    perm[rows] = cols
    return torch.as_tensor(perm, dtype=torch.int64, device=x_0.device)


def minibatch_ot_coupling(x_0: Tensor, x_1: Tensor) -> tuple[Tensor, Tensor]:
    """Re-pair a minibatch by optimal transport: returns (x_0, x_1[s]) with s from ot_assignment.

    The total squared distance of the pairs never exceeds that of the independent (as drawn) pairing.
    Use as ``train_cfm(..., coupling=minibatch_ot_coupling)``.
    """
    return x_0, x_1[ot_assignment(x_0, x_1)]
