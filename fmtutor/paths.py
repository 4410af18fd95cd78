"""Schedulers (alpha_t, sigma_t), the affine probability path, conditional velocities, conversions.

Convention everywhere: t in [0, 1], x_0 ~ source N(0, I), x_1 ~ data, and

    x_t = sigma_t x_0 + alpha_t x_1,        dx_t = d_sigma_t x_0 + d_alpha_t x_1.

CondOT (the linear path of the course) is alpha_t = t, sigma_t = 1 - t.

>>> import torch
>>> s = CondOTScheduler()(torch.tensor(0.25))
>>> float(s.alpha_t), float(s.sigma_t), float(s.d_alpha_t), float(s.d_sigma_t)
(0.25, 0.75, 1.0, -1.0)
"""

__all__ = [
    "SchedulerOutput",
    "Scheduler",
    "CondOTScheduler",
    "CosineScheduler",
    "PolynomialScheduler",
    "VPScheduler",
    "SCHEDULERS",
    "get_scheduler",
    "PathSample",
    "AffinePath",
    "conditional_velocity",
    "PARAMETRIZATIONS",
    "convert",
    "EPS",
]

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ._validate import as_tensor, check_same_shape, check_unit_interval, times_like

#: What replaces a denominator that is exactly 0 (sigma_1 = 0 at t = 1, alpha_0 = 0 at t = 0);
#: a positive sigma_t or alpha_t, however small, is used as it is.
EPS = 1e-5


def _nonzero(v: Tensor) -> Tensor:
    """v with its exact zeros replaced by EPS (the one floor of the package), same shape as v."""
    return torch.where(v == 0, EPS, v)


@dataclass
class SchedulerOutput:
    """alpha_t, sigma_t and their time derivatives, each with the shape of t."""

    alpha_t: Tensor
    sigma_t: Tensor
    d_alpha_t: Tensor
    d_sigma_t: Tensor


class Scheduler:
    """Base class: subclasses give alpha_t, sigma_t and their derivatives in closed form."""

    name = "scheduler"

    def __call__(self, t: Any) -> SchedulerOutput:
        """Evaluate the schedule.

        Args:
            t: times in [0, 1], any shape (a float becomes a 0-d tensor).

        Returns:
            SchedulerOutput whose four tensors have the shape of t.
        """
        t = as_tensor(t, "t")
        check_unit_interval(t, "t")
        return self._evaluate(t)

    def _evaluate(self, t: Tensor) -> SchedulerOutput:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class CondOTScheduler(Scheduler):
    """The linear (conditional optimal-transport) schedule: alpha_t = t, sigma_t = 1 - t."""

    name = "condot"

    def _evaluate(self, t: Tensor) -> SchedulerOutput:
        return SchedulerOutput(t, 1 - t, torch.ones_like(t), -torch.ones_like(t))


class CosineScheduler(Scheduler):
    """alpha_t = sin(pi t / 2), sigma_t = cos(pi t / 2): a variance-preserving arc."""

    name = "cosine"

    def _evaluate(self, t: Tensor) -> SchedulerOutput:
        a = 0.5 * math.pi * t
        # cos(a) = sin(b), written so that sigma_1 = 0 exactly (float32 cos(pi/2) < 0)
        b = 0.5 * math.pi * (1 - t)
        h = 0.5 * math.pi
        return SchedulerOutput(torch.sin(a), torch.sin(b), h * torch.sin(b), -h * torch.sin(a))


class PolynomialScheduler(Scheduler):
    """alpha_t = t^n, sigma_t = 1 - t^n (n > 0; n = 1 is CondOT)."""

    name = "polynomial"

    def __init__(self, n: float = 2.0) -> None:
        if not isinstance(n, (int, float)) or isinstance(n, bool) or not n > 0:
            raise ValueError(f"n: expected a positive number, got {n!r}")
        self.n = float(n)

    def _evaluate(self, t: Tensor) -> SchedulerOutput:
        n = self.n
        d = n * (_nonzero(t) if n < 1 else t) ** (n - 1)  # n < 1: infinite at t = 0 only
        return SchedulerOutput(t**n, 1 - t**n, d, -d)

    def __repr__(self) -> str:
        return f"PolynomialScheduler(n={self.n:g})"


class VPScheduler(Scheduler):
    """Variance preserving (diffusion's VP-SDE, time flipped so that data sits at t = 1).

    alpha_t = exp(-T(1 - t) / 2) with T(s) = beta_min s + (beta_max - beta_min) s^2 / 2,
    sigma_t = sqrt(1 - alpha_t^2) = sqrt(-expm1(-T)) (no cancellation near t = 1). At t = 0,
    alpha_0 = exp(-T(1)/2) is small but not 0 (about 0.0066 for the default betas): the path starts
    *near* the source. d_sigma_t = -alpha_t d_alpha_t / sigma_t is infinite at t = 1 (divided by
    EPS there).
    """

    name = "vp"

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0) -> None:
        for name, beta in (("beta_min", beta_min), ("beta_max", beta_max)):
            if (
                isinstance(beta, bool)
                or not isinstance(beta, (int, float))
                or not math.isfinite(beta)
            ):
                raise ValueError(f"{name}: expected a finite number, got {beta!r}")
        if not 0 <= beta_min < beta_max:
            raise ValueError(
                f"beta_min, beta_max: expected 0 <= beta_min < beta_max, got {beta_min}, {beta_max}"
            )
        self.beta_min, self.beta_max = float(beta_min), float(beta_max)

    def beta(self, s: Tensor) -> Tensor:
        """beta(s) = beta_min + (beta_max - beta_min) s in diffusion time s = 1 - t, shape of s."""
        return self.beta_min + (self.beta_max - self.beta_min) * s

    def _evaluate(self, t: Tensor) -> SchedulerOutput:
        s = 1 - t
        big_t = self.beta_min * s + 0.5 * (self.beta_max - self.beta_min) * s**2
        beta = self.beta(s)
        alpha = torch.exp(-0.5 * big_t)
        sigma = torch.sqrt(-torch.expm1(-big_t))  # 1 - exp(-T) without cancellation
        d_alpha = 0.5 * beta * alpha
        d_sigma = -alpha * d_alpha / _nonzero(sigma)
        return SchedulerOutput(alpha, sigma, d_alpha, d_sigma)

    def __repr__(self) -> str:
        return f"VPScheduler(beta_min={self.beta_min:g}, beta_max={self.beta_max:g})"


SCHEDULERS: dict[str, type[Scheduler]] = {
    "condot": CondOTScheduler,
    "cosine": CosineScheduler,
    "polynomial": PolynomialScheduler,
    "vp": VPScheduler,
}


def get_scheduler(scheduler: "str | Scheduler", **kwargs: Any) -> Scheduler:
    """Return a scheduler instance from a name in SCHEDULERS (or pass an instance through)."""
    if isinstance(scheduler, Scheduler):
        return scheduler
    if not isinstance(scheduler, str) or scheduler.lower() not in SCHEDULERS:
        raise ValueError(
            f"scheduler: expected one of {sorted(SCHEDULERS)} or a Scheduler, got {scheduler!r}"
        )
    return SCHEDULERS[scheduler.lower()](**kwargs)


@dataclass
class PathSample:
    """A draw from the path: x_t, its regression target dx_t, and the inputs that made it."""

    x_t: Tensor
    dx_t: Tensor
    t: Tensor
    x_0: Tensor
    x_1: Tensor


class AffinePath:
    """The affine probability path x_t = sigma_t x_0 + alpha_t x_1 of a scheduler.

    Args:
        scheduler: a Scheduler or its name (default CondOT, the linear path).
    """

    def __init__(self, scheduler: "str | Scheduler" = "condot") -> None:
        self.scheduler = get_scheduler(scheduler)

    def sample(self, x_0: Tensor, x_1: Tensor, t: Any) -> PathSample:
        """Sample x_t and the conditional target dx_t.

        x_t = sigma_t x_0 + alpha_t x_1 and dx_t = d_sigma_t x_0 + d_alpha_t x_1
        (for CondOT: dx_t = x_1 - x_0).

        Args:
            x_0: source samples, shape (B, ...).
            x_1: data samples, same shape as x_0.
            t: times in [0, 1]: a float, (B,) or (B, 1).

        Returns:
            PathSample with x_t and dx_t of shape (B, ...).
        """
        x_0 = as_tensor(x_0, "x_0", finite=True)
        x_1 = as_tensor(x_1, "x_1", like=x_0, finite=True)
        check_same_shape(x_0, x_1, "x_0", "x_1")
        if x_0.ndim < 1:
            raise ValueError("x_0: expected a batch of shape (B, ...), got a scalar")
        tt = times_like(t, x_0)
        s = self.scheduler._evaluate(tt)
        x_t = s.sigma_t * x_0 + s.alpha_t * x_1
        dx_t = s.d_sigma_t * x_0 + s.d_alpha_t * x_1
        return PathSample(x_t, dx_t, tt.reshape(-1) if tt.ndim else tt, x_0, x_1)

    def _sample(self, x_0: Tensor, x_1: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """``sample`` without its checks (the training loop's call); t in [0, 1] broadcasts to x_0.

        For CondOT it computes dx_t = x_1 - x_0 and x_t = x_0 + t dx_t: the same values with two
        operations instead of the scheduler's six (equal to ``sample``'s up to round-off).
        """
        if isinstance(self.scheduler, CondOTScheduler):
            dx_t = x_1 - x_0
            return x_0 + t * dx_t, dx_t
        s = self.scheduler._evaluate(t)
        return s.sigma_t * x_0 + s.alpha_t * x_1, s.d_sigma_t * x_0 + s.d_alpha_t * x_1

    def __repr__(self) -> str:
        return f"AffinePath({self.scheduler!r})"


def conditional_velocity(
    x: Tensor, x_1: Tensor, t: Any, scheduler: "str | Scheduler" = "condot"
) -> Tensor:
    """The conditional velocity u_t(x | x_1) of the Gaussian path N(alpha_t x_1, sigma_t^2 I).

    u_t(x | x_1) = d_alpha_t x_1 + (d_sigma_t / sigma_t) (x - alpha_t x_1);
    for CondOT this is (x_1 - x) / (1 - t).

    Exact for every t < 1 (any sigma_t > 0 is used as it is). At t = 1 the field is singular: off
    the end point x = alpha_1 x_1 it blows up like |x_1 - x| / (1 - t), and on it the limit along a
    path is that path's velocity (CondOT: x_1 - x_0), which x does not determine. At t = 1 this
    returns a finite stand-in, not a limit: it divides by EPS instead of 0, giving d_alpha_1 x_1 on
    the end point (the path from x_0 = 0) and d_alpha_1 x_1 + (d_sigma_1 / EPS)(x - alpha_1 x_1)
    elsewhere. Heun and RK4 evaluate fields at t = 1 and pick up that error (fmtutor.solvers).

    Args:
        x: points, shape (B, ...).
        x_1: the data points they are conditioned on, same shape.
        t: times in [0, 1]: a float, (B,) or (B, 1).
        scheduler: Scheduler or name (default CondOT).

    Returns:
        Velocities, shape (B, ...).
    """
    x = as_tensor(x, "x", finite=True)
    x_1 = as_tensor(x_1, "x_1", like=x, finite=True)
    check_same_shape(x, x_1, "x", "x_1")
    s = get_scheduler(scheduler)(times_like(t, x))
    return s.d_alpha_t * x_1 + s.d_sigma_t / _nonzero(s.sigma_t) * (x - s.alpha_t * x_1)


PARAMETRIZATIONS = ("velocity", "x1", "epsilon", "score")


def _coefficients(kind: str, s: SchedulerOutput) -> tuple[Tensor, Tensor]:
    """(c0, c1) such that the quantity `kind` equals c0 x_0 + c1 x_1 given x_t (posterior means)."""
    zero, one = torch.zeros_like(s.alpha_t), torch.ones_like(s.alpha_t)
    if kind == "velocity":
        return s.d_sigma_t, s.d_alpha_t
    if kind == "x1":
        return zero, one
    if kind == "epsilon":
        return one, zero
    # the score of a path from the source N(0, I): -E[x_0 | x_t] / sigma_t
    return -1 / _nonzero(s.sigma_t), zero


def convert(
    value: Tensor, x: Tensor, t: Any, src: str, dst: str, scheduler: "str | Scheduler" = "condot"
) -> Tensor:
    """Convert a prediction between parametrizations: velocity, x1, epsilon (= x_0) and score.

    Each is linear in the posterior means (e, m) := (E[x_0 | x_t], E[x_1 | x_t]), with
    x_t = sigma_t e + alpha_t m:

        velocity = d_sigma_t e + d_alpha_t m,   x1 = m,   epsilon = e,   score = -e / sigma_t.

    Given `value` in `src` and x_t, solve the 2x2 system for (e, m), then form `dst`. For CondOT:
    x1 = x + (1 - t) v and epsilon = x - t v. The solve is exact wherever the determinant is
    nonzero, however near t = 0 or 1 (x1 from epsilon near t = 0 divides by a small alpha_t). Only
    where it is exactly 0 (epsilon from x1 at t = 1, x1 from epsilon at t = 0, anything from a
    velocity where d_alpha_t = d_sigma_t = 0) are the vanishing alpha_t, sigma_t replaced by EPS:
    the result is finite, the part ``value`` determines stays exact (x1 -> x1 is the identity at
    t = 1), and the undetermined part is large but not informative.
    At t = 1 (sigma_1 = 0, alpha_1 = 1), from a velocity: x1 = x exactly, and
    epsilon = (v - d_alpha_1 x) / d_sigma_1 (CondOT: x - v); the score is -epsilon / EPS (finite).
    src == dst returns ``value`` unchanged.

    Args:
        value: the prediction, shape (B, ...).
        x: the points x_t where it was made, same shape.
        t: times in [0, 1]: a float, (B,) or (B, 1).
        src, dst: names in PARAMETRIZATIONS.
        scheduler: Scheduler or name (default CondOT).

    Returns:
        The prediction in `dst`, shape (B, ...).
    """
    for name, kind in (("src", src), ("dst", dst)):
        if kind not in PARAMETRIZATIONS:
            raise ValueError(f"{name}: expected one of {PARAMETRIZATIONS}, got {kind!r}")
    x = as_tensor(x, "x", finite=True)
    value = as_tensor(value, "value", like=x, finite=True)
    check_same_shape(value, x, "value", "x")
    s = get_scheduler(scheduler)(times_like(t, x))
    if src == dst:
        return value.expand_as(x).clone()
    c0, c1 = _coefficients(src, s)
    a, sg = s.alpha_t, s.sigma_t
    det = c0 * a - c1 * sg
    singular = det == 0
    if bool(singular.any()):  # floor alpha_t, sigma_t (not only det): keeps what `value` determines
        a = torch.where(singular, _nonzero(a), a)
        sg = torch.where(singular, _nonzero(sg), sg)
        det = _nonzero(c0 * a - c1 * sg)
    e = (a * value - c1 * x) / det
    m = (c0 * x - sg * value) / det
    d0, d1 = _coefficients(dst, s)
    return d0 * e + d1 * m
