"""The typical slips of chapter 3's exercises on p_{t|1}, each with its hint (a tr message)."""

from __future__ import annotations

__all__ = ["sample_xt_mistakes", "log_prob_mistakes"]

import math
from collections.abc import Callable

import torch
from torch import Tensor

from fmtutor.course.i18n import tr


def sample_xt_mistakes() -> dict[str, Callable[..., Tensor]]:
    """Hint -> the wrong sample_xt(x0, x1, t) it names."""
    return {
        tr(
            "time is reversed: at t = 0 the sample must be the noise x0, "
            "at t = 1 the data point x1."
        ): lambda x0, x1, t: t * x0 + (1 - t) * x1,
        tr(
            "(1 - t)^2 is the variance of p_{t|1}; "
            "the noise is scaled by the standard deviation 1 - t."
        ): lambda x0, x1, t: t * x1 + (1 - t) ** 2 * x0,
        tr("the noise x0 must shrink as t grows: multiply it by (1 - t)."): lambda x0, x1, t: (
            t * x1 + x0
        ),
        tr(
            "the data point must be scaled by t: the mean of p_{t|1}(. | x1) is t x1."
        ): lambda x0, x1, t: x1 + (1 - t) * x0,
        tr(
            "you returned the velocity x1 - x0 of the straight line, not the point on it."
        ): lambda x0, x1, t: x1 - x0,
    }


def log_prob_mistakes() -> dict[str, Callable[..., Tensor]]:
    """Hint -> the wrong conditional_log_prob(x, x1, t) it names."""

    def with_(
        mean: Callable[..., Tensor],
        std: Callable[..., Tensor],
        logdet: float = 1.0,
        const: bool = True,
    ) -> Callable[..., Tensor]:
        def f(x: Tensor, x1: Tensor, t: Tensor) -> Tensor:
            d, s = x.shape[1], std(t)[:, 0]
            c = 0.5 * d * math.log(2 * math.pi) if const else 0.0
            return -((x - mean(x1, t)) ** 2).sum(1) / (2 * s**2) - logdet * d * torch.log(s) - c

        return f

    good_mean, good_std = (lambda x1, t: t * x1), (lambda t: 1 - t)
    return {
        tr("the mean of p_{t|1}(. | x1) is t x1, not x1."): with_(lambda x1, t: x1, good_std),
        tr(
            "(1 - t)^2 is the variance: the standard deviation is 1 - t (you squared it twice)."
        ): with_(good_mean, lambda t: (1 - t) ** 2),
        tr(
            "time is reversed: the mean is t x1 and the standard deviation 1 - t (noise at t = 0)."
        ): with_(lambda x1, t: (1 - t) * x1, lambda t: t),
        tr(
            "the log-determinant has one log(1 - t) per coordinate: "
            "- d log(1 - t), not - log(1 - t)."
        ): with_(good_mean, good_std, 1.0 / 2),
        tr("the normalising constant - (d/2) log(2 pi) is missing."): with_(
            good_mean, good_std, const=False
        ),
    }
