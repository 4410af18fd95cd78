"""Shortcut models: a network s(x, t, d) that takes a whole step d at once, by self-consistency.

A flow psi moves x from time t to psi_{t,t+d}(x). Its average velocity over [t, t + d],

    s(x, t, d) = (psi_{t,t+d}(x) - x) / d,        s(x, t, 0) = u_t(x)  (the limit d -> 0),

makes one step exact: x + d s(x, t, d) = psi_{t,t+d}(x). Two half steps make one whole step, so

    s(x, t, 2d) = ( s(x, t, d) + s(x', t + d, d) ) / 2,     x' = x + d s(x, t, d).

A shortcut model (Frans et al. 2025) learns s with the flow-matching loss at d = 0 and this
self-consistency at d > 0; it then samples with k steps of d = 1/k: x <- x + d s(x, t, d).

>>> import torch
>>> net = ShortcutMLP(hidden=8, depth=1)
>>> tuple(net(torch.zeros(3, 2), 0.5, 0.25).shape)
(3, 2)
"""

from __future__ import annotations

__all__ = [
    "ShortcutMLP",
    "average_velocity",
    "shortcut_targets",
    "shortcut_loss",
    "train_shortcut",
    "shortcut_sample",
    "step_field",
]

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from ._validate import check_callable, check_number, check_points, check_positive_int, check_time
from .fewstep import _check_pairs, _loop
from .io import MODEL_CLASSES
from .models import ACTIVATIONS, MLP, time_column
from .solvers import solve
from .training import TrainResult

Shortcut = Callable[[Tensor, Any, Any], Tensor]


class ShortcutMLP(nn.Module):
    """An MLP s_theta(x, t, d) on the features [x, t, d]: the average velocity over [t, t + d].

    Args:
        dim, hidden, depth, activation: as fmtutor.models.MLP.

    Shapes: x (B, dim); t and d each a float, (B,) or (B, 1), in [0, 1] -> (B, dim).
    """

    def __init__(
        self, dim: int = 2, hidden: int = 64, depth: int = 3, activation: str = "silu"
    ) -> None:
        super().__init__()
        dim, hidden = check_positive_int(dim, "dim"), check_positive_int(hidden, "hidden")
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"activation: expected one of {sorted(ACTIVATIONS)}, got {activation!r}"
            )
        self.dim = dim
        self.config = dict(dim=dim, hidden=hidden, depth=depth, activation=activation)
        layers: list[nn.Module] = []
        width = dim + 2
        for _ in range(check_positive_int(depth, "depth")):
            layers += [nn.Linear(width, hidden), ACTIVATIONS[activation]()]
            width = hidden
        layers.append(nn.Linear(width, dim))
        self.net = nn.Sequential(*layers)

    @classmethod
    def from_mlp(cls, mlp: MLP) -> ShortcutMLP:
        """A shortcut net equal to a velocity MLP at every d: s(x, t, d) = u(x, t) (d's weights 0).

        Training then only has to teach it how the step changes the answer (a warm start).
        """
        if not isinstance(mlp, MLP) or mlp.config["n_frequencies"] or mlp.label is not None:
            raise TypeError("mlp: expected an fmtutor.models.MLP without Fourier times or labels")
        c = mlp.config
        net = cls(c["dim"], c["hidden"], c["depth"], c["activation"]).to(mlp.net[0].weight)
        with torch.no_grad():
            for new, old in zip(net.net, mlp.net):
                if isinstance(new, nn.Linear):
                    new.bias.copy_(old.bias)
                    new.weight.zero_()
                    new.weight[:, : old.weight.shape[1]] = old.weight
        return net

    def forward(self, x: Tensor, t: Any, d: Any) -> Tensor:
        """s(x, t, d), shape (B, dim)."""
        x = check_points(x, "x", dim=self.dim).to(self.net[0].weight)
        tc, dc = time_column(t, x), time_column(d, x)
        return self.net(torch.cat([x, tc, dc], 1))


MODEL_CLASSES["ShortcutMLP"] = ShortcutMLP  # so that load_model can rebuild it


def average_velocity(
    field: Callable[[Tensor, Any], Tensor],
    x: Tensor,
    t: float,
    d: float,
    n_steps: int = 64,
    method: str = "rk4",
) -> Tensor:
    """The truth a shortcut model learns: (psi_{t,t+d}(x) - x) / d from an ODE solve, (B, d).

    Args:
        field: a velocity u(x, t) (e.g. fmtutor.exact.MarginalField). x: points at time t (B, d).
        t, d: start time and step, t + d <= 1; d = 0 gives u_t(x) itself.
        n_steps, method: the solver over [t, t + d] (fmtutor.solvers.solve).
    """
    check_callable(field, "field", "a velocity field(x, t)")
    x = check_points(x, "x")
    t, d = check_number(t, "t", minimum=0.0), check_number(d, "d", minimum=0.0)
    if t + d > 1:
        raise ValueError(f"t, d: the step must end by t = 1, got t + d = {t + d:g}")
    if d == 0:
        return field(x, torch.full((x.shape[0],), t, dtype=x.dtype))
    end = solve(field, x, method=method, n_steps=n_steps, t0=t, t1=t + d).x
    return (end - x) / d


def _col(v: Any, x: Tensor, name: str) -> Tensor:
    return check_time(v, batch=x.shape[0], like=x, name=name).expand(x.shape[0], 1)


def shortcut_targets(model: Shortcut, x: Tensor, t: Any, d: Any, d_min: float = 1 / 64) -> Tensor:
    """Self-consistency targets: two half steps h = d / 2 averaged, without gradient, (B, dim).

        target = ( s(x, t, h) + s(x + h s(x, t, h), t + h, h) ) / 2.

    d_min is the smallest step trained by self-consistency: half steps below it are asked of the
    model as d = 0 (its instantaneous velocity), which anchors the smallest steps to the
    flow-matching field.

    Args:
        model: s(x, t, d). x: points at time t (B, dim). t, d: (B,) or floats, t + d <= 1.
    """
    check_callable(model, "model", "a shortcut model(x, t, d)")
    x = check_points(x, "x")
    tc, hc = _col(t, x, "t"), _col(d, x, "d") / 2
    hq = torch.where(hc < d_min, torch.zeros_like(hc), hc)
    with torch.no_grad():
        s1 = model(x, tc, hq)
        s2 = model(x + hc * s1, (tc + hc).clamp(max=1.0), hq)
    return (s1 + s2) / 2


def shortcut_loss(
    model: Shortcut, x_0: Tensor, x_1: Tensor, t: Any, d: Any, d_min: float = 1 / 64
) -> Tensor:
    """mean_i || s(x_t, t, d) - target_i ||^2 (sum over coordinates), x_t = (1 - t) x_0 + t x_1.

    target_i = x_1 - x_0 (flow matching) where d_i = 0, else shortcut_targets (self-consistency).

    Args:
        model: s(x, t, d). x_0, x_1: pairs (B, dim). t, d: (B,) with t + d <= 1.
        d_min: see shortcut_targets.
    """
    x_0, x_1 = _check_pairs(x_0, x_1)
    tc, dc = _col(t, x_0, "t"), _col(d, x_0, "d")
    if bool((tc + dc > 1 + 1e-6).any()):
        end = float((tc + dc).max())
        raise ValueError(
            f"t, d: every step must end by t = 1 (t + d <= 1), got t + d up to {end:.3g}"
        )
    x_t = (1 - tc) * x_0 + tc * x_1
    fm = (dc == 0).expand_as(x_0)
    sc = shortcut_targets(model, x_t, tc, dc, d_min) if bool((dc > 0).any()) else x_1 - x_0
    target = torch.where(fm, x_1 - x_0, sc)
    return ((model(x_t, tc, dc) - target) ** 2).sum(1).mean()


def _draw_times(n: int, frac: float, levels: int, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """The first round(frac n) rows: d = 2^-k (k < levels), t ~ U[0, 1 - d]; the rest d = 0."""
    n_sc = round(frac * n)
    d = torch.zeros(n)
    d[:n_sc] = 2.0 ** -torch.randint(0, levels, (n_sc,), generator=g).float()
    return torch.rand(n, generator=g) * (1 - d), d


def train_shortcut(
    model: nn.Module,
    x_0: Tensor,
    x_1: Tensor,
    steps: int = 1000,
    batch_size: int = 256,
    lr: float = 1e-3,
    seed: int = 0,
    sc_fraction: float = 0.25,
    levels: int = 7,
    fresh_noise: bool = True,
) -> TrainResult:
    """Train a shortcut model in place with shortcut_loss on minibatches of (x_0, x_1).

    Args:
        model: s(x, t, d), e.g. ShortcutMLP.from_mlp(a trained velocity MLP).
        x_0, x_1: noise and data points (B', dim); with fresh_noise the x_0 of each minibatch is
            drawn anew (an independent coupling), else the pairs are kept (e.g. reflow pairs).
        steps, batch_size, lr, seed: Adam with the cosine decay of fmtutor.fewstep.
        sc_fraction: share of each batch on self-consistency, d = 2^-k, k < levels; d_min is
            2^(1 - levels), the smallest such step, whose halves use the d = 0 field.
    """
    x_0, x_1 = _check_pairs(x_0, x_1)
    frac = check_number(sc_fraction, "sc_fraction", minimum=0.0)
    if frac > 1:
        raise ValueError(f"sc_fraction: expected a share in [0, 1], got {frac:g}")
    levels = check_positive_int(levels, "levels")

    def loss(a: Tensor, b: Tensor, g: torch.Generator) -> Tensor:
        if fresh_noise:
            a = torch.randn(a.shape, generator=g, dtype=a.dtype)
        t, d = _draw_times(a.shape[0], frac, levels, g)
        return shortcut_loss(model, a, b, t.to(a), d.to(a), d_min=2.0 ** (1 - levels))

    return _loop(model, loss, x_0, x_1, steps, batch_size, lr, seed)


def shortcut_sample(model: Shortcut, x_0: Tensor, n_steps: int) -> Tensor:
    """k = n_steps steps of d = 1/k from t = 0: x <- x + d s(x, t, d) (k network calls), (B, d)."""
    check_callable(model, "model", "a shortcut model(x, t, d)")
    x, k = check_points(x_0, "x_0"), check_positive_int(n_steps, "n_steps")
    with torch.no_grad():
        for i in range(k):
            x = x + model(x, i / k, 1 / k) / k
    return x


def step_field(model: Shortcut, d: float) -> Callable[[Tensor, Any], Tensor]:
    """u(x, t) = s(x, t, d): Euler with step d on it is the shortcut sampler (for nfe tables)."""
    check_callable(model, "model", "a shortcut model(x, t, d)")
    d = check_number(d, "d", minimum=0.0)
    if d > 1:
        raise ValueError(f"d: expected a step in [0, 1], got {d:g}")
    return lambda x, t: model(x, t, d)
