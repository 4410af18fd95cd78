"""Trajectory sliders' data: one ODE solve per setting, the particles read at any time t."""

__all__ = ["SolvedPaths"]

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from fmtutor.solvers import Solution, solve


class SolvedPaths:
    """Solutions of dx/dt = u_t(x) from one batch x0, solved once per setting, read at any time t.

    ``solution(key, field, method, n_steps)`` solves from t = 0 to 1 with
    ``fmtutor.solvers.solve`` (``return_trajectory=True``) the first time a setting
    ``(key, method, n_steps)`` is asked for and keeps it; ``at(..., t)`` moves the particles
    along it. With grid times t_0 < ... < t_n and t_k <= t < t_(k+1), the particles at t are one
    step of the same method from t_k to t: exactly where a solve on the grid (t_0, ..., t_k, t)
    ends (for Euler, the straight segment between two grid states).

    Args:
        x0: the start points, shape (B, 2).
    """

    def __init__(self, x0: Tensor) -> None:
        self.x0 = x0
        self.cache: dict[tuple[Any, str, int], Solution] = {}
        self.solves = 0

    def solution(
        self, key: Any, field: Callable[..., Tensor], method: str, n_steps: int
    ) -> Solution:
        """The cached solve of ``field`` (named ``key``) with ``method`` and ``n_steps`` steps."""
        if (key, method, n_steps) not in self.cache:
            self.solves += 1
            self.cache[key, method, n_steps] = solve(
                field, self.x0, method=method, n_steps=n_steps, return_trajectory=True
            )
        return self.cache[key, method, n_steps]

    def at(
        self, key: Any, field: Callable[..., Tensor], method: str, n_steps: int, t: float
    ) -> tuple[Tensor, Tensor]:
        """The path up to t and the positions at t.

        Returns:
            (path, x_t): the states at the grid times t_0..t_k followed by x_t, shape (k + 2, B, 2)
            (x_t repeated when t is a grid time), and x_t of shape (B, 2).
        """
        if not isinstance(t, (int, float)) or not 0.0 <= t <= 1.0:
            raise ValueError(f"t: expected a time in [0, 1], got {t!r}")
        sol = self.solution(key, field, method, n_steps)
        times, traj = sol.times, sol.trajectory
        assert traj is not None
        t_ = torch.tensor(t, dtype=times.dtype)  # t in the grid's precision, as a solve takes it
        k = int((times <= t_).sum()) - 1  # the last grid time at or before t
        if times[k] == t_:
            x_t = traj[k]
        else:
            grid = torch.stack([times[k], t_])
            x_t = solve(field, traj[k], method=method, time_grid=grid).x
        return torch.cat([traj[: k + 1], x_t[None]]), x_t
