"""Other codebases' clocks and velocities: a table of conventions and converters to the course's.

The course: t in [0, 1], x_0 noise at t = 0, x_1 data at t = 1, x_t = (1 - t) x_0 + t x_1 and the
network predicts u = dx/dt (x_1 - x_0 on a straight line). A codebase's convention is fixed by
three things (see Convention): where its own clock s puts the noise (s = t, or s = 1 - t), the
sign of what its network returns (x_1 - x_0, or x_0 - x_1 = "noise - data"), and the factor by
which its clock is scaled before the network sees it (timesteps in [0, 1000]). Then, with
s = scale * t or scale * (1 - t),

    u_course(x, t) = sign * f_foreign(x, s),        f_foreign(x, s) = sign * u_course(x, t(s)).

>>> import torch
>>> f = from_course(lambda x, t: x * 0 + t, "diffusers")   # u = t, as the diffusers model sees it
>>> float(f(torch.zeros(1, 1), torch.tensor(250.0)))       # sigma = 0.25, t = 0.75, -u
-0.75
"""

from __future__ import annotations

__all__ = [
    "Convention",
    "CONVENTIONS",
    "get_convention",
    "to_course_time",
    "from_course_time",
    "to_course",
    "from_course",
    "shift_sigmas",
    "course_grid",
    "foreign_euler",
]

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ._validate import as_tensor, check_callable, check_number, check_positive_int

Velocity = Callable[[Tensor, Any], Tensor]


@dataclass(frozen=True)
class Convention:
    """How a codebase writes the linear path x = (1 - t) noise + t data and its velocity.

    Attributes:
        name: short key in CONVENTIONS.
        codebase: who uses it, in words.
        noise_at: where the noise sits on the codebase's own clock s before scaling: 0.0
            (s = t, as the course) or 1.0 (s = 1 - t: diffusers' sigma, the diffusion clock).
        sign: +1 when the network predicts data - noise (the course's x_1 - x_0), -1 when it
            predicts noise - data.
        scale: the network receives scale * s (1000 for diffusers' timesteps, 999 in the
            original rectified-flow code, 1 elsewhere).
        where: where this was read (file of the public repository), or how it follows.
    """

    name: str
    codebase: str
    noise_at: float
    sign: int
    scale: float
    where: str

    def __post_init__(self) -> None:
        if self.noise_at not in (0.0, 1.0):
            raise ValueError(f"noise_at: expected 0.0 or 1.0, got {self.noise_at!r}")
        if self.sign not in (1, -1):
            raise ValueError(f"sign: expected +1 or -1, got {self.sign!r}")
        check_number(self.scale, "scale", minimum=0.0, strict=True)


#: The conventions of the chapter: the course, Meta's flow_matching, the original rectified-flow
#: code, diffusers' FlowMatchEulerDiscreteScheduler and the diffusion clock.
CONVENTIONS: dict[str, Convention] = {
    c.name: c
    for c in (
        Convention(
            "course", "fmtutor (this course)", 0.0, 1, 1.0, "fmtutor/paths.py (CondOTScheduler)"
        ),
        Convention(
            "flow_matching",
            "Meta's flow_matching (CondOTScheduler, AffineProbPath, ODESolver)",
            0.0,
            1,
            1.0,
            "facebookresearch/flow_matching flow_matching/path/scheduler/scheduler.py: "
            "alpha_t = t, sigma_t = 1 - t; x_t = sigma_t x_0 + alpha_t x_1",
        ),
        Convention(
            "rectified_flow",
            "the original rectified-flow code (Liu et al.)",
            0.0,
            1,
            999.0,
            "gnobitab/RectifiedFlow ImageGeneration/losses.py: perturbed = t * batch + "
            "(1 - t) * z0, target = batch - z0, the network called with t * 999",
        ),
        Convention(
            "diffusers",
            "diffusers' FlowMatchEulerDiscreteScheduler (SD3, Flux)",
            1.0,
            -1,
            1000.0,
            "huggingface/diffusers scheduling_flow_match_euler_discrete.py: sigma * noise + "
            "(1 - sigma) * sample, timesteps = sigmas * 1000; examples/dreambooth/"
            "train_dreambooth_sd3.py: target = noise - model_input",
        ),
        Convention(
            "diffusion",
            "the diffusion clock: noise at t_diff = 1, data at 0, dx/dt_diff",
            1.0,
            -1,
            1.0,
            "t_diff = 1 - t, so dx/dt_diff = -dx/dt",
        ),
    )
}


def get_convention(convention: "str | Convention") -> Convention:
    """A Convention, or the one named in CONVENTIONS ('course', 'diffusers', ...)."""
    if isinstance(convention, Convention):
        return convention
    if isinstance(convention, str) and convention in CONVENTIONS:
        return CONVENTIONS[convention]
    raise ValueError(
        f"convention: expected a Convention or one of {sorted(CONVENTIONS)}, got {convention!r}"
    )


def to_course_time(s: Any, convention: "str | Convention") -> Tensor:
    """The course's time t of a codebase's (scaled) time s: t = s / scale, or 1 - s / scale.

    Args:
        s: the time the foreign network receives, a number or tensor of any shape.
        convention: Convention or name.

    Returns:
        t, a tensor of the shape of s.
    """
    c = get_convention(convention)
    s = as_tensor(s, "s", finite=True)
    u = s / c.scale
    return 1 - u if c.noise_at == 1.0 else u


def from_course_time(t: Any, convention: "str | Convention") -> Tensor:
    """The time a codebase's network receives at course time t: scale * t, or scale * (1 - t)."""
    c = get_convention(convention)
    t = as_tensor(t, "t", finite=True)
    return c.scale * ((1 - t) if c.noise_at == 1.0 else t)


def to_course(model: Velocity, convention: "str | Convention") -> Velocity:
    """A foreign network as a course velocity: u(x, t) = sign * model(x, s(t)).

    Args:
        model: the codebase's network ``model(x, s)``, x (B, d), s its scaled time.
        convention: the codebase's Convention or name.

    Returns:
        ``u(x, t)`` with t in [0, 1] (a number or a tensor), returning (B, d): sample it with
        ``fmtutor.solvers.solve`` from noise at t = 0.
    """
    check_callable(model, "model", "a network model(x, s) in the foreign convention")
    c = get_convention(convention)

    def course_velocity(x: Tensor, t: Any) -> Tensor:
        return c.sign * model(x, from_course_time(t, c).to(x.dtype))

    return course_velocity


def from_course(velocity: Velocity, convention: "str | Convention") -> Velocity:
    """A course velocity u(x, t) as a foreign network: f(x, s) = sign * u(x, t(s)).

    The inverse of to_course: ``to_course(from_course(u, c), c)`` is u (the sign squares to 1).

    Args:
        velocity: ``u(x, t)`` in the course's convention.
        convention: the target Convention or name.

    Returns:
        ``f(x, s)`` taking the codebase's scaled time s, returning (B, d).
    """
    check_callable(velocity, "velocity", "a course velocity u(x, t)")
    c = get_convention(convention)

    def foreign_model(x: Tensor, s: Any) -> Tensor:
        return c.sign * velocity(x, to_course_time(s, c).to(x.dtype))

    return foreign_model


def shift_sigmas(n_steps: int, shift: float = 1.0) -> Tensor:
    """A diffusers-style sigma grid: n_steps + 1 values from 1 down to 0, warped by the shift.

    sigma_k = 1 - k / n_steps, then sigma <- shift sigma / (1 + (shift - 1) sigma) (the
    resolution shift of SD3; shift > 1 spends more steps near the noise). diffusers' own default
    grid stops its linspace at sigma_min = 1 / 1000 before appending 0; this one is exactly
    uniform for shift = 1.

    Returns:
        sigmas, shape (n_steps + 1,), float64, decreasing from 1 to 0.
    """
    n_steps = check_positive_int(n_steps, "n_steps")
    shift = check_number(shift, "shift", minimum=0.0, strict=True)
    s = torch.linspace(1.0, 0.0, n_steps + 1, dtype=torch.float64)
    return shift * s / (1 + (shift - 1) * s)


def course_grid(own_times: Any, convention: "str | Convention") -> Tensor:
    """A codebase's time grid (e.g. diffusers' sigmas, in its own unscaled clock) in course time.

    t_k = own_k (noise_at 0) or 1 - own_k (noise_at 1): diffusers' sigmas 1 -> 0 become the
    course's grid 0 -> 1, which ``fmtutor.solvers.solve(..., time_grid=...)`` takes.

    Args:
        own_times: the grid, shape (T + 1,), values in [0, 1].
        convention: Convention or name.
    """
    c = get_convention(convention)
    g = as_tensor(own_times, "own_times", finite=True)
    if g.ndim != 1 or g.numel() < 2:
        raise ValueError(f"own_times: expected a 1-D grid of >= 2 times, got {tuple(g.shape)}")
    return 1 - g if c.noise_at == 1.0 else g


def foreign_euler(model: Velocity, x_init: Tensor, own_times: Any, convention: Any) -> Tensor:
    """The Euler loop as a codebase writes it, in its own clock: x <- x + (s_{k+1} - s_k) f.

    With diffusers' sigmas this is FlowMatchEulerDiscreteScheduler.step: the network gets
    sigma_k * 1000 and the state moves by (sigma_{k+1} - sigma_k) * output. The output is taken
    as dx/ds in the codebase's clock, times sign * (+1 or -1 as its clock runs with the course's
    or against it), which is +1 for every convention in CONVENTIONS. It is here so that the
    course's Euler solve on ``course_grid`` can be checked against it.

    Args:
        model: the codebase's network ``model(x, s)`` (s scaled).
        x_init: the noise, shape (B, d).
        own_times: the codebase's unscaled grid (s_0, ..., s_T), starting at its noise end.
        convention: Convention or name.

    Returns:
        The final state, shape (B, d).
    """
    check_callable(model, "model", "a network model(x, s) in the foreign convention")
    c = get_convention(convention)
    g = course_grid(own_times, c)  # validates; the loop itself uses the codebase's own times
    own = as_tensor(own_times, "own_times")
    if float(g[0]) != 0.0:
        raise ValueError(f"own_times: expected to start at the noise ({c.noise_at}), got {own[0]}")
    x = as_tensor(x_init, "x_init", finite=True)
    k = c.sign * (-1 if c.noise_at == 1.0 else 1)  # dx/ds = k * output
    for s0, s1 in zip(own[:-1], own[1:]):
        x = x + k * (s1 - s0).to(x.dtype) * model(x, (c.scale * s0).to(x.dtype))
    return x
