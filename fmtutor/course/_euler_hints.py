"""The typical slips of chapter 2's Euler exercises, each with its hint (a tr message)."""

from __future__ import annotations

__all__ = ["euler_step_mistakes", "euler_solver_mistakes"]

from collections.abc import Callable

import torch
from torch import Tensor

from fmtutor.course.i18n import tr


def euler_step_mistakes() -> dict[str, Callable[..., Tensor]]:
    """Hint -> the wrong step(u, x, t, h) it names."""
    return {
        tr("you returned only the increment h u(x, t): add it to x."): lambda u, x, t, h: (
            h * u(x, t)
        ),
        tr("the step size h is missing."): lambda u, x, t, h: x + u(x, t),
        tr(
            "you evaluated u at the end time t + h; Euler uses the start time t."
        ): lambda u, x, t, h: x + h * u(x, t + h),
        tr(
            "the step goes backwards: x - h u(x, t) moves against the field; a step forward in "
            "time adds h u(x, t)."
        ): lambda u, x, t, h: x - h * u(x, t),
    }


def euler_solver_mistakes() -> dict[str, Callable[..., Tensor]]:
    """Hint -> the wrong euler_solver(u, x0, n_steps) it names."""

    def wrong(
        time: Callable[[int, float], float], step: Callable[[int], float] = lambda n: 1.0 / n
    ) -> Callable[..., Tensor]:
        def solver(u: Callable[..., Tensor], x0: Tensor, n: int) -> Tensor:
            xs, h = [x0], step(n)
            for k in range(n):
                xs.append(xs[-1] + h * u(xs[-1], torch.tensor(time(k, h), dtype=x0.dtype)))
            return torch.stack(xs)

        return solver

    return {
        tr("u was evaluated at the step number k; it needs the time t = k h."): wrong(
            lambda k, h: float(k)
        ),
        tr(
            "each step must use the velocity at its start time t = k h, not at its end (k + 1) h."
        ): wrong(lambda k, h: (k + 1) * h),
        tr("the step size is h = 1 / n_steps, so that n_steps steps end at t = 1."): wrong(
            lambda k, h: k * h, lambda n: 1.0
        ),
        tr(
            "with n_steps steps the grid has n_steps + 1 points: "
            "h = 1 / n_steps, not 1 / (n_steps - 1)."
        ): wrong(lambda k, h: k * h, lambda n: 1.0 / max(n - 1, 1)),
    }
