"""Fixed-grid ODE solvers for dx/dt = u_t(x): Euler, midpoint, Heun and RK4 on one base class.

The base class owns the loop, the time grid, the trajectory and the count of velocity
evaluations (NFE); each method is one ``step`` and declares its ``order`` and ``nodes`` (the
fractions c of a step where it evaluates the field, at t + c h). The velocity is any callable
``model(x, t)``; it receives t as a 0-d tensor in x's dtype and device. Times are the flow's clock,
in [0, 1]. A field that is singular at some times says so with an attribute ``singular_times``
(e.g. fmtutor.exact.MarginalField of data points, at t = 1): ``solve`` then warns with a
SingularFieldWarning when a method would evaluate the field there (Heun and RK4 evaluate the end
point of each step; Euler and midpoint never evaluate the end point of a forward solve).

>>> import torch
>>> sol = solve(lambda x, t: -x, torch.ones(1, 1), method="rk4", n_steps=10)
>>> round(float(sol.x), 5), sol.nfe      # exp(-1) = 0.3678794...
(0.36788, 40)
"""

__all__ = [
    "Solver",
    "Euler",
    "Midpoint",
    "Heun",
    "RK4",
    "SOLVERS",
    "get_solver",
    "Solution",
    "make_time_grid",
    "solve",
    "SingularFieldWarning",
]

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ._validate import as_tensor, check_positive_int, check_unit_interval

Velocity = Callable[[Tensor, Tensor], Tensor]


@dataclass
class Solution:
    """What a solve returns.

    Attributes:
        x: the final state, shape (B, ...).
        times: the time grid, shape (T + 1,).
        trajectory: the states at every grid time, shape (T + 1, B, ...), or None if not kept.
        nfe: the number of velocity evaluations used.
    """

    x: Tensor
    times: Tensor
    trajectory: "Tensor | None"
    nfe: int


class SingularFieldWarning(UserWarning):
    """A solver evaluates a field at a time where the field declares itself singular."""


class Solver:
    """A fixed-grid one-step method; subclasses set ``name``, ``order``, ``nodes``, write ``step``.

    ``nodes``: the fractions c of a step at which ``step`` evaluates the field (at t + c h).
    """

    name = "solver"
    order = 0
    nodes: tuple[float, ...] = ()

    def step(self, f: Velocity, x: Tensor, t: Tensor, h: Tensor) -> Tensor:
        """Advance x from time t to t + h (h may be negative) and return the new state."""
        raise NotImplementedError

    def integrate(
        self, model: Velocity, x_init: Tensor, times: Tensor, keep_trajectory: bool = False
    ) -> Solution:
        """Integrate dx/dt = model(x, t) over the grid ``times`` starting from x_init.

        Args:
            model: the velocity field ``model(x, t)``, returning a tensor shaped like x.
            x_init: the state at times[0], shape (B, ...).
            times: a strictly monotone grid, shape (T + 1,).
            keep_trajectory: keep every state (memory T + 1 times that of x).
        """
        nfe = 0

        def f(x: Tensor, t: Tensor) -> Tensor:
            nonlocal nfe
            nfe += 1
            v = model(x, t)
            if not isinstance(v, Tensor) or v.shape != x.shape:
                got = tuple(v.shape) if isinstance(v, Tensor) else type(v).__name__
                raise ValueError(
                    "model: expected model(x, t) to return a tensor of shape "
                    f"{tuple(x.shape)}, got {got}"
                )
            if v.device.type != "meta" and not bool(torch.isfinite(v).all()):
                raise ValueError(
                    f"model: expected finite velocities, got NaN or inf at t = {float(t):.4g} "
                    f"(after {nfe} evaluations): the solution diverged (try more steps) or the "
                    "field divides by zero"
                )
            return v

        x, traj = x_init, [x_init] if keep_trajectory else None
        for t0, t1 in zip(times[:-1], times[1:]):
            x = self.step(f, x, t0, t1 - t0)
            if traj is not None:
                traj.append(x)
        return Solution(x, times, torch.stack(traj) if traj is not None else None, nfe)


class Euler(Solver):
    """x_{t+h} = x_t + h u_t(x_t). First order."""

    name, order, nodes = "euler", 1, (0.0,)

    def step(self, f: Velocity, x: Tensor, t: Tensor, h: Tensor) -> Tensor:
        return x + h * f(x, t)


class Midpoint(Solver):
    """x_{t+h} = x_t + h u_{t+h/2}(x_t + (h/2) u_t(x_t)). Second order, 2 NFE per step."""

    name, order, nodes = "midpoint", 2, (0.0, 0.5)

    def step(self, f: Velocity, x: Tensor, t: Tensor, h: Tensor) -> Tensor:
        x_half = x + 0.5 * h * f(x, t)
        return x + h * f(x_half, t + 0.5 * h)


class Heun(Solver):
    """Trapezoid predictor-corrector, second order, 2 NFE per step.

    k1 = u_t(x), k2 = u_{t+h}(x + h k1), x_{t+h} = x + h (k1 + k2) / 2. It evaluates the field at
    the end point t + h of each step: at t = 1 in a forward solve to 1, where the fields of flow
    matching are singular (exact point targets, conditional fields); see ``solve``.
    """

    name, order, nodes = "heun", 2, (0.0, 1.0)

    def step(self, f: Velocity, x: Tensor, t: Tensor, h: Tensor) -> Tensor:
        k1 = f(x, t)
        k2 = f(x + h * k1, t + h)
        return x + 0.5 * h * (k1 + k2)


class RK4(Solver):
    """Classical Runge-Kutta method, x + h (k1 + 2 k2 + 2 k3 + k4) / 6. Order 4, 4 NFE a step.

    k4 evaluates the field at the step's end point t + h (like Heun); see ``solve``.
    """

    name, order, nodes = "rk4", 4, (0.0, 0.5, 0.5, 1.0)

    def step(self, f: Velocity, x: Tensor, t: Tensor, h: Tensor) -> Tensor:
        k1 = f(x, t)
        k2 = f(x + 0.5 * h * k1, t + 0.5 * h)
        k3 = f(x + 0.5 * h * k2, t + 0.5 * h)
        k4 = f(x + h * k3, t + h)
        return x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


SOLVERS: dict[str, type[Solver]] = {cls.name: cls for cls in (Euler, Midpoint, Heun, RK4)}


def get_solver(method: "str | Solver") -> Solver:
    """A Solver from a name in SOLVERS ('euler', 'midpoint', 'heun', 'rk4') or an instance."""
    if isinstance(method, Solver):
        return method
    if not isinstance(method, str) or method.lower() not in SOLVERS:
        raise ValueError(f"method: expected one of {sorted(SOLVERS)} or a Solver, got {method!r}")
    return SOLVERS[method.lower()]()


def make_time_grid(
    t0: float = 0.0,
    t1: float = 1.0,
    step_size: "float | None" = None,
    n_steps: "int | None" = None,
    time_grid: Any = None,
    like: "Tensor | None" = None,
) -> Tensor:
    """The time grid of a solve, from exactly one of step_size, n_steps or an explicit time_grid.

    With step_size, the number of steps is ceil(|t1 - t0| / step_size) and the grid is uniform and
    ends exactly at t1. t1 < t0 integrates backwards in time.

    Args:
        t0, t1: start and end times (when no time_grid is given).
        step_size, n_steps, time_grid: give exactly one.
        like: take the grid's dtype and device from this tensor.

    Returns:
        The grid, shape (T + 1,).
    """
    kw = dict(
        dtype=like.dtype
        if like is not None and like.is_floating_point()
        else torch.get_default_dtype(),
        device=like.device if like is not None else None,
    )
    given = [
        name
        for name, v in (("step_size", step_size), ("n_steps", n_steps), ("time_grid", time_grid))
        if v is not None
    ]
    if len(given) != 1:
        raise ValueError(
            f"step_size, n_steps, time_grid: give exactly one of them, got {given or 'none'}"
        )
    if time_grid is not None:
        grid = as_tensor(time_grid, "time_grid").to(**kw)
        if grid.ndim != 1 or grid.numel() < 2:
            raise ValueError(
                f"time_grid: expected a 1-D grid of at least 2 times, got shape {tuple(grid.shape)}"
            )
        if not torch.isfinite(grid).all():
            raise ValueError(f"time_grid: expected finite times, got {grid.tolist()}")
        dt = grid[1:] - grid[:-1]
        if not ((dt > 0).all() or (dt < 0).all()):
            raise ValueError(
                "time_grid: expected strictly increasing or strictly decreasing times, "
                f"got {grid.tolist()}"
            )
        return grid
    for name, v in (("t0", t0), ("t1", t1)):
        if not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"{name}: expected a finite number, got {v!r}")
    if t0 == t1:
        raise ValueError(f"t0, t1: expected different start and end times, got {t0} and {t1}")
    if step_size is not None:
        if not isinstance(step_size, (int, float)) or not step_size > 0:
            raise ValueError(f"step_size: expected a positive number, got {step_size!r}")
        n_steps = max(1, math.ceil(abs(t1 - t0) / step_size - 1e-9))
    n_steps = check_positive_int(n_steps, "n_steps")
    return torch.linspace(t0, t1, n_steps + 1, **kw)


def solve(
    model: Velocity,
    x_init: Tensor,
    method: "str | Solver" = "midpoint",
    step_size: "float | None" = None,
    n_steps: "int | None" = None,
    time_grid: Any = None,
    t0: float = 0.0,
    t1: float = 1.0,
    return_trajectory: bool = False,
    enable_grad: bool = False,
) -> Solution:
    """Integrate dx/dt = model(x, t) from x_init with a named fixed-grid method.

    Give exactly one of step_size, n_steps or time_grid. Sampling is t0=0 -> t1=1; likelihoods and
    inversions go backwards (t0=1, t1=0, or a decreasing time_grid). Every time lies in [0, 1].

    At t = 1 the fields of flow matching can be singular: the exact field of a finite data set
    (and the conditional field (x_1 - x) / (1 - t)) blows up there, and what fmtutor returns at
    t = 1 exactly is a finite stand-in, not a limit (see paths.conditional_velocity). Heun and RK4
    evaluate the field at the end point of each step, so sent all the way to t = 1 they pick up
    that error (Euler and midpoint do not). A model with an attribute ``singular_times``
    (fmtutor.exact.MarginalField of points has (1.0,)) makes solve warn (SingularFieldWarning)
    when the method would evaluate it at one of them; stop short (e.g. t1=1 - 1e-3) to avoid it.

    Args:
        model: velocity field ``model(x, t)`` (a trained network, MarginalField or any function).
        x_init: the state at the first grid time, shape (B, ...).
        method: 'euler', 'midpoint', 'heun', 'rk4' or a Solver instance.
        step_size, n_steps, time_grid: the grid (see make_time_grid).
        t0, t1: start and end times when no time_grid is given.
        return_trajectory: also keep the states at every grid time.
        enable_grad: track gradients (off by default: sampling needs none).

    Returns:
        Solution with x (final state), times, trajectory (T + 1, B, ...) or None, and nfe.
    """
    if not callable(model):
        raise TypeError(f"model: expected a callable model(x, t), got {type(model).__name__}")
    solver = get_solver(method)
    x_init = as_tensor(x_init, "x_init", finite=True)
    if x_init.ndim < 1 or x_init.shape[0] == 0:
        raise ValueError(
            f"x_init: expected a non-empty batch of shape (B, ...), got shape {tuple(x_init.shape)}"
        )
    times = make_time_grid(t0, t1, step_size, n_steps, time_grid, like=x_init)
    check_unit_interval(times, "time_grid" if time_grid is not None else "t0, t1")
    _warn_if_singular(model, solver, times)
    with torch.set_grad_enabled(enable_grad):
        return solver.integrate(model, x_init, times, keep_trajectory=return_trajectory)


def _warn_if_singular(model: Any, solver: Solver, times: Tensor) -> None:
    """Warn when ``solver`` would evaluate ``model`` at one of its ``singular_times``."""
    singular = getattr(model, "singular_times", ())
    if not singular or not solver.nodes:
        return
    h = times[1:] - times[:-1]
    evaluated = torch.cat([times[:-1] + c * h for c in solver.nodes])  # as each step forms t + c h
    hit = [float(s) for s in singular if bool((evaluated == float(s)).any())]
    if hit:
        warnings.warn(
            f"model: the field is singular at t = {hit[0]:g} (its singular_times) and "
            f"{solver.name!r} evaluates it there, where fmtutor returns a finite stand-in, not "
            "the field's limit: expect a large error. Stop short of it (e.g. t1=1 - 1e-3) or "
            "use 'euler' or 'midpoint', which do not evaluate the end point of a forward solve.",
            SingularFieldWarning,
            stacklevel=3,
        )
