"""Example vector fields with closed-form flows and divergences, the references of chapters 1-2.

Every field is a callable ``field(x, t)`` on points x of shape (B, 2) (the course's model
convention) and also knows its exact flow ``field.flow(x, t)`` = psi_t(x) (started at time 0) and
its divergence ``field.divergence(x, t)``, so that numerical results can be checked against closed
forms:

* rotation     u(x) = omega J x              psi_t(x) = R(omega t) x             div = 0
* sink/source  u(x) = -/+ k x                psi_t(x) = exp(-/+ k t) x           div = -/+ 2k
* spiral       u(x) = (omega J - k I) x      psi_t(x) = exp(-k t) R(omega t) x   div = -2k
* mover        u_t(x) = (b - a) - k (x - c_t),  c_t = a + t (b - a)
               psi_t(x) = c_t + exp(-k t) (x - a)                                div = -2k
* rotation_to_sink  u_t(x) = ((1 - t) omega J - t k I) x
               psi_t(x) = exp(-k t^2 / 2) R(omega (t - t^2 / 2)) x               div = -2 k t

with J = [[0, -1], [1, 0]] (a quarter turn) and R(theta) the rotation by theta.

>>> import torch
>>> f = rotation()
>>> f(torch.tensor([[1.0, 0.0]]), 0.0)
tensor([[0., 1.]])
>>> float(sink(1.0).divergence(torch.zeros(1, 2), 0.0)[0])
-2.0
"""

__all__ = [
    "ExampleField",
    "LinearField",
    "MassMover",
    "RotationToSink",
    "rotation",
    "sink",
    "source",
    "spiral",
    "FIELDS",
    "get_field",
]

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ._validate import as_tensor, check_number, check_points

_J = torch.tensor([[0.0, -1.0], [1.0, 0.0]])


def _time(t: Any, x: Tensor) -> Tensor:
    """Times as a (B, 1) or (1, 1) tensor in x's dtype, from a float, 0-d, (B,) or (B, 1) tensor.

    Unlike the paths' times, these may lie outside [0, 1] (a flow runs for any time).
    """
    t = as_tensor(t, "t", like=x)
    if t.ndim == 0:
        t = t.reshape(1, 1)
    elif t.ndim == 1:
        t = t[:, None]
    if t.ndim != 2 or t.shape[1] != 1 or t.shape[0] not in (1, x.shape[0]):
        raise ValueError(
            f"t: expected a float, a (B,) or a (B, 1) tensor with B = {x.shape[0]}, "
            f"got shape {tuple(t.shape)}"
        )
    if not torch.isfinite(t).all():
        raise ValueError(f"t: expected finite times, got {t.flatten()[:5].tolist()}")
    return t


def _apply(m: Tensor, x: Tensor) -> Tensor:
    """Matrices m of shape (B or 1, 2, 2) applied to points x of shape (B, 2), shape (B, 2).

    Elementwise, with no BLAS call: tiny matmuls in a BLAS thread pool are slow on a busy machine.
    """
    return (m * x[:, None, :]).sum(-1)


def _rot(theta: Tensor) -> Tensor:
    """Rotation matrices R(theta), shape (B, 2, 2), from angles of shape (B, 1)."""
    c, s = torch.cos(theta[:, 0]), torch.sin(theta[:, 0])
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)


class ExampleField:
    """Base class of the example fields: ``field(x, t)``, x (B, 2) and t a float, (B,) or (B, 1).

    Subclasses implement ``velocity``, ``flow`` (exact psi_t from time 0) and ``divergence``.
    """

    name = "field"
    formula = ""

    def __call__(self, x: Tensor, t: Any = 0.0) -> Tensor:
        """u_t(x), shape (B, 2)."""
        x = check_points(x, "x", dim=2)
        return self.velocity(x, _time(t, x))

    def flow(self, x: Tensor, t: Any) -> Tensor:
        """The exact flow psi_t(x), shape (B, 2): where the particle at x at time 0 is at time t."""
        x = check_points(x, "x", dim=2)
        return self._flow(x, _time(t, x))

    def divergence(self, x: Tensor, t: Any = 0.0) -> Tensor:
        """The exact divergence (div u_t)(x) = sum_i d u_t^i / d x^i, shape (B,)."""
        x = check_points(x, "x", dim=2)
        return self._divergence(x, _time(t, x)).expand(x.shape[0]).clone()

    def velocity(self, x: Tensor, t: Tensor) -> Tensor:
        raise NotImplementedError

    def _flow(self, x: Tensor, t: Tensor) -> Tensor:
        raise NotImplementedError

    def _divergence(self, x: Tensor, t: Tensor) -> Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name}: {self.formula})"


class LinearField(ExampleField):
    """A time-independent linear field u(x) = A x: flow psi_t(x) = exp(t A) x, divergence tr A.

    Args:
        matrix: A, shape (2, 2).
        name: a short name. formula: a text formula for titles.
    """

    def __init__(self, matrix: Any, name: str = "linear", formula: str = "A x") -> None:
        a = as_tensor(matrix, "matrix")
        if a.shape != (2, 2):
            raise ValueError(f"matrix: expected shape (2, 2), got {tuple(a.shape)}")
        self.matrix, self.name, self.formula = a, name, formula

    def velocity(self, x: Tensor, t: Tensor) -> Tensor:
        return _apply(self.matrix.to(x)[None], x)

    def _flow(self, x: Tensor, t: Tensor) -> Tensor:
        return _apply(torch.linalg.matrix_exp(t[:, :, None] * self.matrix.to(x)), x)

    def _divergence(self, x: Tensor, t: Tensor) -> Tensor:
        return torch.trace(self.matrix).to(x).reshape(1)


def rotation(omega: float = 1.0) -> LinearField:
    """Counter-clockwise rotation u(x) = omega (-x2, x1) at angular speed omega.

    |u(x)| = |omega| |x| and div u = 0.
    """
    omega = check_number(omega, "omega")
    return LinearField(omega * _J, "rotation", f"{omega:g} (-x2, x1)")


def sink(rate: float = 1.0) -> LinearField:
    """u(x) = -rate x: all flows into the origin, psi_t(x) = exp(-rate t) x, div = -2 rate."""
    rate = check_number(rate, "rate")
    return LinearField(-rate * torch.eye(2, device="cpu"), "sink", f"-{rate:g} x")


def source(rate: float = 1.0) -> LinearField:
    """u(x) = rate x: everything flows out of the origin, psi_t(x) = exp(rate t) x, div = 2 rate."""
    rate = check_number(rate, "rate")
    return LinearField(rate * torch.eye(2, device="cpu"), "source", f"{rate:g} x")


def spiral(omega: float = 2.0, rate: float = 0.5) -> LinearField:
    """u(x) = (omega J - rate I) x: a rotation and a sink at once.

    psi_t(x) = exp(-rate t) R(omega t) x and div u = -2 rate.
    """
    omega, rate = check_number(omega, "omega"), check_number(rate, "rate")
    return LinearField(
        omega * _J - rate * torch.eye(2, device="cpu"), "spiral", f"({omega:g} J - {rate:g} I) x"
    )


class MassMover(ExampleField):
    """Moves a blob of mass from a to b: u_t(x) = (b - a) - k (x - c_t) with c_t = a + t (b - a).

    The centre c_t travels at the constant velocity b - a while everything else is pulled towards it
    at rate k. Flow: psi_t(x) = c_t + exp(-k t) (x - a). Divergence: -2k.

    Args:
        start: a, shape (2,). end: b, shape (2,). rate: k >= 0.
    """

    name = "mover"

    def __init__(self, start: Any = (-1.5, -1.5), end: Any = (1.5, 1.0), rate: float = 1.0) -> None:
        self.start, self.end = as_tensor(start, "start"), as_tensor(end, "end")
        for nm, v in (("start", self.start), ("end", self.end)):
            if v.shape != (2,):
                raise ValueError(f"{nm}: expected shape (2,), got {tuple(v.shape)}")
        if not rate >= 0:
            raise ValueError(f"rate: expected a number >= 0, got {rate!r}")
        self.rate = float(rate)
        self.formula = f"(b - a) - {rate:g} (x - c_t)"

    def centre(self, t: Any) -> Tensor:
        """c_t = a + t (b - a), shape (B, 2) for t of shape (B, 1) (or (1, 2))."""
        t = as_tensor(t, "t").reshape(-1, 1)
        return self.start.to(t) + t * (self.end - self.start).to(t)

    def velocity(self, x: Tensor, t: Tensor) -> Tensor:
        a, b = self.start.to(x), self.end.to(x)
        return (b - a) - self.rate * (x - (a + t * (b - a)))

    def _flow(self, x: Tensor, t: Tensor) -> Tensor:
        a, b = self.start.to(x), self.end.to(x)
        return a + t * (b - a) + torch.exp(-self.rate * t) * (x - a)

    def _divergence(self, x: Tensor, t: Tensor) -> Tensor:
        return torch.full((1,), -2 * self.rate, dtype=x.dtype, device=x.device)


class RotationToSink(ExampleField):
    """A time-dependent field: a rotation at t = 0 that turns into a sink at t = 1.

    u_t(x) = ((1 - t) omega J - t k I) x. Since J and I commute, the flow is
    psi_t(x) = exp(-k t^2 / 2) R(omega (t - t^2 / 2)) x, and div u_t = -2 k t.
    """

    name = "rotation_to_sink"

    def __init__(self, omega: float = 3.0, rate: float = 2.0) -> None:
        self.omega, self.rate = float(omega), float(rate)
        self.formula = f"((1-t) {omega:g} J - t {rate:g} I) x"

    def velocity(self, x: Tensor, t: Tensor) -> Tensor:
        rot = torch.stack([-x[:, 1], x[:, 0]], 1)
        return (1 - t) * self.omega * rot - t * self.rate * x

    def _flow(self, x: Tensor, t: Tensor) -> Tensor:
        return torch.exp(-self.rate * t**2 / 2) * _apply(_rot(self.omega * (t - t**2 / 2)), x)

    def _divergence(self, x: Tensor, t: Tensor) -> Tensor:
        return (-2 * self.rate * t).reshape(-1)


#: name -> factory of the course's example fields (default parameters).
FIELDS: dict[str, Callable[[], ExampleField]] = {
    "rotation": lambda: rotation(1.5),
    "sink": lambda: sink(1.0),
    "source": lambda: source(1.0),
    "spiral": lambda: spiral(2.0, 0.5),
    "mover": lambda: MassMover(),
    "rotation_to_sink": lambda: RotationToSink(),
}


def get_field(name: "str | ExampleField") -> ExampleField:
    """An example field from a name in FIELDS (an ExampleField passes through)."""
    if isinstance(name, ExampleField):
        return name
    if not isinstance(name, str) or name not in FIELDS:
        raise ValueError(f"name: expected one of {sorted(FIELDS)} or an ExampleField, got {name!r}")
    return FIELDS[name]()
