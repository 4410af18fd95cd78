"""Example vector fields with closed-form flows, and the widget builders of chapters 0-3.

Every field is a callable ``field(x, t)`` on points x of shape (B, 2) (the course's model convention)
and also knows its exact flow ``field.flow(x, t)`` = psi_t(x) (started at time 0) and its divergence
``field.divergence(x, t)``, so that numerical results can be checked against closed forms:

* rotation     u(x) = omega J x                      psi_t(x) = R(omega t) x           div = 0
* sink/source  u(x) = -/+ k x                        psi_t(x) = exp(-/+ k t) x         div = -/+ 2k
* spiral       u(x) = (omega J - k I) x              psi_t(x) = exp(-k t) R(omega t) x div = -2k
* mover        u_t(x) = (b - a) - k (x - c_t),  c_t = a + t (b - a)
               psi_t(x) = c_t + exp(-k t) (x - a)                                      div = -2k
* rotation_to_sink  u_t(x) = ((1 - t) omega J - t k I) x
               psi_t(x) = exp(-k t^2 / 2) R(omega (t - t^2 / 2)) x                       div = -2 k t

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
    "divergence",
    "path_length",
    "kinetic_energy",
    "gaussian_kl",
    "gaussian_log_likelihood",
    "grid_lines",
    "mle_explorer",
    "TransportDemo",
    "transport_frames",
    "spacetime_plot",
    "field_explorer",
    "flow_explorer",
    "FlowDemo",
    "flow_frames",
    "path_explorer",
    "PathDemo",
    "path_frames",
]

import math
from collections.abc import Callable
from dataclasses import dataclass, field as dc_field
from typing import Any

import ipywidgets as W
import numpy as np
import torch
from matplotlib.collections import LineCollection
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import Tensor

from ._validate import as_tensor, check_number, check_points, check_positive_int
from .couplings import ot_assignment
from .data import GaussianMixture, eight_gaussians_mixture, make_generator
from .exact import MarginalField, marginal_log_prob
from .plots import figure_png, quiver, style_axes
from .solvers import solve
from .widgets import LivePlot

Lim = tuple[float, float]
_J = torch.tensor([[0.0, -1.0], [1.0, 0.0]])


def _time(t: Any, x: Tensor) -> Tensor:
    """Times as a (B, 1) or (1, 1) tensor in x's dtype, from a float, a 0-d, (B,) or (B, 1) tensor."""
    t = as_tensor(t, "t", like=x)
    if t.ndim == 0:
        t = t.reshape(1, 1)
    elif t.ndim == 1:
        t = t[:, None]
    if t.ndim != 2 or t.shape[1] != 1 or t.shape[0] not in (1, x.shape[0]):
        raise ValueError(f"t: expected a float, a (B,) or a (B, 1) tensor with B = {x.shape[0]}, got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise ValueError(f"t: expected finite times, got {t.flatten()[:5].tolist()}")
    return t


def _apply(m: Tensor, x: Tensor) -> Tensor:
    """Matrices m of shape (B or 1, 2, 2) applied to points x of shape (B, 2), elementwise (no BLAS call:
    tiny matmuls in a BLAS thread pool are slow on a busy machine)."""
    return (m * x[:, None, :]).sum(-1)


def _rot(theta: Tensor) -> Tensor:
    """Rotation matrices R(theta), shape (B, 2, 2), from angles of shape (B, 1)."""
    c, s = torch.cos(theta[:, 0]), torch.sin(theta[:, 0])
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)


class ExampleField:
    """Base class of the example fields: ``field(x, t)`` with x (B, 2) and t a float, (B,) or (B, 1).

    Subclasses implement ``velocity``, ``flow`` (exact psi_t from time 0) and ``divergence``.
    """

    name = "field"
    formula = ""

    def __call__(self, x: Tensor, t: Any = 0.0) -> Tensor:
        """u_t(x), shape (B, 2)."""
        x = check_points(x, "x", dim=2)
        return self.velocity(x, _time(t, x))

    def flow(self, x: Tensor, t: Any) -> Tensor:
        """The exact flow psi_t(x) (the position at time t of the particle that was at x at time 0), shape (B, 2)."""
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
    """A time-independent linear field u(x) = A x, with flow psi_t(x) = exp(t A) x and divergence tr A.

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
    """Counter-clockwise rotation u(x) = omega (-x2, x1): angular speed omega, |u(x)| = |omega| |x|, div = 0."""
    omega = check_number(omega, "omega")
    return LinearField(omega * _J, "rotation", f"{omega:g} (-x2, x1)")


def sink(rate: float = 1.0) -> LinearField:
    """u(x) = -rate x: everything flows into the origin, psi_t(x) = exp(-rate t) x, div = -2 rate."""
    rate = check_number(rate, "rate")
    return LinearField(-rate * torch.eye(2, device="cpu"), "sink", f"-{rate:g} x")


def source(rate: float = 1.0) -> LinearField:
    """u(x) = rate x: everything flows out of the origin, psi_t(x) = exp(rate t) x, div = 2 rate."""
    rate = check_number(rate, "rate")
    return LinearField(rate * torch.eye(2, device="cpu"), "source", f"{rate:g} x")


def spiral(omega: float = 2.0, rate: float = 0.5) -> LinearField:
    """u(x) = (omega J - rate I) x: a rotation and a sink at once, psi_t(x) = exp(-rate t) R(omega t) x."""
    omega, rate = check_number(omega, "omega"), check_number(rate, "rate")
    return LinearField(omega * _J - rate * torch.eye(2, device="cpu"), "spiral", f"({omega:g} J - {rate:g} I) x")


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


def divergence(field: Callable[[Tensor, Any], Tensor], x: Tensor, t: Any = 0.0) -> Tensor:
    """The divergence sum_i d u^i / d x^i of any field(x, t) by autograd, shape (B,).

    Args:
        field: ``field(x, t)`` mapping (B, d) to (B, d), differentiable in x.
        x: points, shape (B, d).
        t: the time passed to the field.
    """
    if not callable(field):
        raise TypeError(f"field: expected a callable field(x, t), got {type(field).__name__}")
    x = check_points(x, "x").detach().requires_grad_(True)
    with torch.enable_grad():
        u = field(x, t)
        if not isinstance(u, Tensor) or u.shape != x.shape:
            raise ValueError(f"field: expected field(x, t) of shape {tuple(x.shape)}, got {getattr(u, 'shape', type(u))}")
        div = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        for i in range(x.shape[1]):
            div = div + torch.autograd.grad(u[:, i].sum(), x, retain_graph=True)[0][:, i]
    return div.detach()


def path_length(traj: Tensor) -> Tensor:
    """Length of each particle's polyline path, shape (B,), from a trajectory of shape (T + 1, B, d)."""
    traj = as_tensor(traj, "traj")
    if traj.ndim != 3 or traj.shape[0] < 2:
        raise ValueError(f"traj: expected shape (T + 1, B, d) with T >= 1, got {tuple(traj.shape)}")
    return (traj[1:] - traj[:-1]).norm(dim=-1).sum(0)


def kinetic_energy(traj: Tensor, times: Tensor) -> Tensor:
    """The kinetic energy int_0^1 |dx/dt|^2 dt of each path, shape (B,), by finite differences.

    For any path from x_0 to x_1 it is at least |x_1 - x_0|^2, with equality exactly for the straight
    line travelled at constant speed.

    Args:
        traj: positions at the grid times, shape (T + 1, B, d).
        times: the grid, shape (T + 1,).
    """
    traj, times = as_tensor(traj, "traj"), as_tensor(times, "times")
    if traj.ndim != 3 or times.shape != (traj.shape[0],):
        raise ValueError(f"traj, times: expected shapes (T + 1, B, d) and (T + 1,), got {tuple(traj.shape)} and {tuple(times.shape)}")
    dt = (times[1:] - times[:-1]).to(traj)[:, None]
    return (((traj[1:] - traj[:-1]) ** 2).sum(-1) / dt).sum(0)


# ---------------------------------------------------------------------------------------------- chapter 0


def gaussian_kl(mu_p: Any, std_p: Any, mu_q: Any, std_q: Any) -> Tensor:
    """KL(N(mu_p, std_p^2) || N(mu_q, std_q^2)) = log(std_q / std_p) + (std_p^2 + (mu_p - mu_q)^2) / (2 std_q^2) - 1/2.

    All arguments broadcast (floats or tensors); standard deviations must be positive.
    """
    mu_p, std_p, mu_q, std_q = (as_tensor(v, n, dtype=torch.float64) for v, n in
                                ((mu_p, "mu_p"), (std_p, "std_p"), (mu_q, "mu_q"), (std_q, "std_q")))
    for nm, s in (("std_p", std_p), ("std_q", std_q)):
        if not (s > 0).all():
            raise ValueError(f"{nm}: expected positive standard deviations, got {s}")
    return torch.log(std_q / std_p) + (std_p**2 + (mu_p - mu_q) ** 2) / (2 * std_q**2) - 0.5


def gaussian_log_likelihood(x: Any, mu: Any, std: Any) -> Tensor:
    """The average log-likelihood L = (1/m) sum_i log N(x^i; mu, std^2) of a 1-D sample x of shape (m,)."""
    x = as_tensor(x, "x", dtype=torch.float64)
    if x.ndim != 1 or x.numel() == 0:
        raise ValueError(f"x: expected a non-empty 1-D sample of shape (m,), got shape {tuple(x.shape)}")
    mu, std = as_tensor(mu, "mu", dtype=torch.float64), as_tensor(std, "std", dtype=torch.float64)
    if not (std > 0).all():
        raise ValueError(f"std: expected a positive standard deviation, got {std}")
    return (-0.5 * ((x[:, None] - mu.reshape(1, -1)) / std.reshape(1, -1)) ** 2 - torch.log(std.reshape(1, -1))
            - 0.5 * math.log(2 * math.pi)).mean(0).reshape(mu.shape if mu.ndim else ())


def mle_explorer(mu_data: float = 1.0, std_data: float = 0.6, m: int = 2000, seed: int = 0) -> LivePlot:
    """Sliders for a model N(mu, std^2) fitted to a 1-D data sample: likelihood and KL side by side.

    Left: histogram of the data, the true p_data and the model p_theta. Right: the average log-likelihood
    L(theta) over mu (std fixed at the slider's value) next to -KL(p_data || p_theta) + C with
    C = E log p_data = -(1/2) log(2 pi e std_data^2): the two curves agree up to sampling noise.
    ``live.state`` holds the last L, kl and C.
    """
    m = check_positive_int(m, "m", minimum=2)
    x = mu_data + std_data * torch.randn(m, generator=make_generator(seed), dtype=torch.float64)
    const = -0.5 * math.log(2 * math.pi * math.e * std_data**2)
    grid = torch.linspace(-3, 4, 300, dtype=torch.float64)
    mus = torch.linspace(-2, 3.5, 111, dtype=torch.float64)
    heights, edges = np.histogram(x.numpy(), bins=40, density=True)  # once: the data never change
    state: dict[str, float] = {}

    def pdf(z: Tensor, mu: float, std: float) -> np.ndarray:
        return (torch.exp(-0.5 * ((z - mu) / std) ** 2) / (std * math.sqrt(2 * math.pi))).numpy()

    def draw(fig: Figure, mu: float, std: float) -> str:
        ax1, ax2 = fig.axes
        ll = float(gaussian_log_likelihood(x, mu, std))
        kl = float(gaussian_kl(mu_data, std_data, mu, std))
        state.update(L=ll, kl=kl, C=const, mu=mu, std=std)
        ax1.stairs(heights, edges, fill=True, color="0.8", label="data $x^i$")
        ax1.plot(grid, pdf(grid, mu_data, std_data), "k--", lw=1.5, label=r"$p_{data}$")
        ax1.plot(grid, pdf(grid, mu, std), color="tab:red", lw=2, label=r"$p_\theta$")
        peak = 1 / (min(std, std_data) * math.sqrt(2 * math.pi))
        ax1.set(xlim=(-3, 4), ylim=(0, max(0.8, 1.15 * peak)), xlabel="$x$", ylabel="density", title=r"data and model $p_\theta$")
        ax1.legend(loc="upper left", fontsize=8)
        curve_l = gaussian_log_likelihood(x, mus, std).numpy()
        curve_kl = (-gaussian_kl(mu_data, std_data, mus, std) + const).numpy()
        ax2.plot(mus, curve_l, color="tab:blue", lw=3, alpha=0.6, label=r"$L(\theta)$ (data average)")
        ax2.plot(mus, curve_kl, "k--", lw=1.5, label=r"$-KL(p_{data}\|p_\theta) + C$")
        lo = -8.0
        ax2.plot([mu], [max(ll, lo + 0.25)], "o" if ll > lo else "v", color="tab:red", ms=8)  # "v": below the axes
        ax2.axvline(mu_data, color="0.6", lw=0.8)
        ax2.set(xlim=(-2, 3.5), ylim=(lo, -0.5), xlabel=r"model mean $\mu$", ylabel="average log-likelihood",
                title=rf"$\sigma$ = {std:.2f}: likelihood vs KL")
        ax2.legend(loc="lower center", fontsize=8)
        return (f"L(θ) = {ll:.3f} &nbsp; KL(p_data‖p_θ) = {kl:.3f} &nbsp; L(θ) + KL = {ll + kl:.3f} "
                f"&nbsp; (C = E log p_data = {const:.3f})")

    controls = {"mu": W.FloatSlider(value=-1.0, min=-2.0, max=3.0, step=0.05, description="μ", continuous_update=True),
                "std": W.FloatSlider(value=1.5, min=0.2, max=2.5, step=0.05, description="σ", continuous_update=True)}
    live = LivePlot(draw, controls, figsize=(9, 3.6), ncols=2)
    live.state = state  # type: ignore[attr-defined]
    live.data = x  # type: ignore[attr-defined]
    return live


@dataclass
class TransportDemo:
    """The three transports of chapter 0: trajectories (T + 1, B, 2) per method, their times and the frames."""

    times: Tensor
    trajectories: dict[str, Tensor]
    frames: list[bytes] = dc_field(repr=False)


class _Trails:
    """Particles with their paths so far on one Axes, updated in place (no re-creation per frame: fast)."""

    def __init__(self, ax: Any, traj: np.ndarray, colors: np.ndarray, lim: Lim, background: "np.ndarray | None" = None,
                 ticks: bool = True) -> None:
        self.ax, self.traj = ax, traj
        if background is not None:
            ax.scatter(background[:, 0], background[:, 1], s=2, color="0.82", linewidths=0)
        self.lines = LineCollection([], colors=colors, linewidths=0.6, alpha=0.45)
        ax.add_collection(self.lines)
        self.dots = ax.scatter(traj[0, :, 0], traj[0, :, 1], s=7, c=colors, linewidths=0, zorder=3)
        style_axes(ax, lim, lim, " ")
        if not ticks:
            _no_ticks(ax)

    def show(self, k: int, title: str) -> None:
        self.lines.set_segments(np.transpose(self.traj[: k + 1], (1, 0, 2)) if k > 0 else [])
        self.dots.set_offsets(self.traj[k])
        self.ax.set_title(title, fontsize=10)


def _no_ticks(ax: Any, keep_labels: bool = False) -> None:
    """Remove ticks (drawing tick labels dominates the cost of a frame); optionally keep the axis labels."""
    ax.set_xticks([]), ax.set_yticks([])
    if not keep_labels:
        ax.set_xlabel(""), ax.set_ylabel("")


def _render(fig: Figure, update: Callable[[int], None], n_frames: int, dpi: int) -> list[bytes]:
    """PNG bytes of frames 0..n_frames-1, calling update(i) on a figure whose artists persist."""
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)  # one renderer for every frame: its text and mathtext caches carry over
    frames = []
    for i in range(n_frames):
        update(i)
        frames.append(figure_png(fig, dpi))
    return frames


def transport_frames(target: "GaussianMixture | None" = None, n: int = 120, n_frames: int = 32, substeps: int = 2,
                     seed: int = 0, lim: Lim = (-4.2, 4.2), dpi: int = 72) -> TransportDemo:
    """Noise -> data three ways, rendered as frames of three panels.

    * ``diffusion (VP)``: the probability-flow ODE of a variance-preserving diffusion, i.e. the exact
      marginal field MarginalField(target, 'vp') integrated from x_0 ~ N(0, I);
    * ``flow matching``: the exact marginal field of the CondOT path, MarginalField(target, 'condot');
    * ``FM + OT pairs``: straight lines x_t = (1 - t) x_0 + t x_1[s] between noise and data samples
      paired by the optimal assignment s (ot_assignment).

    Args:
        target: the data distribution (default: the 8-Gaussians mixture).
        n: particles. n_frames: frames (times linspace(0, 1, n_frames)). substeps: midpoint steps per frame.
        seed: seed of x_0 and of the data sample. lim: axis limits. dpi: frame resolution.
    """
    target = target or eight_gaussians_mixture()
    n, n_frames, substeps = (check_positive_int(v, nm) for v, nm in ((n, "n"), (n_frames, "n_frames"), (substeps, "substeps")))
    g = make_generator(seed)
    x0 = torch.randn(n, 2, generator=g)
    x1 = target.sample(n, seed=g)
    times = torch.linspace(0, 1, n_frames)
    grid = torch.linspace(0, 1, (n_frames - 1) * substeps + 1)
    trajs = {}
    for name, sched in (("diffusion (VP)", "vp"), ("flow matching", "condot")):
        sol = solve(MarginalField(target, sched), x0, method="midpoint", time_grid=grid, return_trajectory=True)
        trajs[name] = sol.trajectory[::substeps]
    x1_ot = x1[ot_assignment(x0, x1)]
    trajs["FM + OT pairs"] = (1 - times)[:, None, None] * x0 + times[:, None, None] * x1_ot
    bg = target.sample(600, seed=seed + 1).numpy()
    np_trajs = {k: v.numpy() for k, v in trajs.items()}
    colors = {k: _angle_colors(v[-1]) for k, v in np_trajs.items()}

    fig = Figure(figsize=(10.5, 3.9))
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.02, top=0.86, wspace=0.04)
    panels = [_Trails(ax, tr, colors[name], lim, bg, ticks=False) for ax, (name, tr) in zip(fig.subplots(1, 3), np_trajs.items())]

    def update(i: int) -> None:
        for p, name in zip(panels, np_trajs):
            p.show(i, f"{name}\nt = {times[i]:.2f}")

    frames = _render(fig, update, n_frames, dpi)
    return TransportDemo(times, trajs, frames)


def spacetime_plot(demo: TransportDemo, n: int = 40, fig: "Figure | None" = None) -> Figure:
    """The first coordinate x^(1) of n particles against time, one panel per method of a TransportDemo."""
    import matplotlib.pyplot as plt

    fig = fig or plt.figure(figsize=(10.5, 3.2), layout="constrained")
    axes = fig.subplots(1, len(demo.trajectories), sharey=True)
    t = demo.times.numpy()
    for ax, (name, tr) in zip(axes, demo.trajectories.items()):
        tr = tr[:, :n].numpy()
        ax.plot(t, tr[:, :, 0], color="tab:blue", lw=0.8, alpha=0.6)
        ax.set(title=name, xlabel="time $t$", xlim=(0, 1))
    axes[0].set_ylabel("$x^{(1)}$")
    return fig


def _angle_colors(end: np.ndarray) -> np.ndarray:
    """RGBA colours from the polar angle of each end point (so particles bound for one cluster share a hue)."""
    import matplotlib

    ang = (np.arctan2(end[:, 1], end[:, 0]) + np.pi) / (2 * np.pi)
    return matplotlib.colormaps["hsv"](ang)


# ---------------------------------------------------------------------------------------------- chapter 1


def field_explorer(names: "list[str] | None" = None, lim: Lim = (-3.0, 3.0), n_particles: int = 9) -> LivePlot:
    """A field picker, a time slider and a "particles" switch over a quiver plot of u_t.

    The text under the plot reports the divergence at the origin twice: by autograd and in closed
    form. With particles on, a 9 x 9 grid of points (around the origin; around the start a for the
    mover) is carried by the exact flow to time t: where the mass has gone by time t. ``live.state`` holds the field, t and both divergences.
    """
    names = list(FIELDS) if names is None else names
    for nm in names:
        get_field(nm)
    side = torch.linspace(-1.5, 1.5, n_particles)
    gy, gx = torch.meshgrid(side, side, indexing="ij")
    start = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)
    state: dict[str, Any] = {}

    def draw(fig: Figure, name: str, t: float, particles: bool) -> str:
        ax = fig.axes[0]
        f = get_field(name)
        quiver(f, t, ax=ax, xlim=lim, n=17, colorbar=True)
        if particles:
            p = f.flow(start + (f.start if isinstance(f, MassMover) else 0), t).numpy()
            ax.scatter(p[:, 0], p[:, 1], s=14, color="tab:red", zorder=3, label=r"$\psi_t$(grid)")
            ax.set_xlim(*lim), ax.set_ylim(*lim)
        if isinstance(f, MassMover):
            c = f.centre(t)[0].numpy()
            ax.plot(*c, marker="*", ms=14, color="black", zorder=4)
        ax.set_title(f"{name}: $u_t(x)$ = {f.formula}\n$t$ = {t:.2f}", fontsize=10)
        origin = torch.zeros(1, 2)
        d_auto, d_exact = float(divergence(f, origin, t)[0]), float(f.divergence(origin, t)[0])
        state.update(name=name, t=t, div_autograd=d_auto, div_exact=d_exact)
        return f"divergence at the origin: autograd {d_auto:+.3f}, closed form {d_exact:+.3f}"

    controls = {"name": W.Dropdown(options=names, value=names[0], description="field"),
                "t": W.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.05, description="t"),
                "particles": W.Checkbox(value=False, description="particles")}
    live = LivePlot(draw, controls, figsize=(5.2, 4.4))
    live.state = state  # type: ignore[attr-defined]
    return live


# ---------------------------------------------------------------------------------------------- chapter 2


def flow_explorer(names: "list[str] | None" = None, n_start: int = 3, lim: Lim = (-3.0, 3.0)) -> LivePlot:
    """Numerical vs exact flow: pick a field, a solver and a number of steps; the error at t = 1 is reported.

    Solid: the exact flow t -> psi_t(x_0) from n_start points (black; radii 2.6, 2.0, 1.4, ...), ending at a star.
    Dashed with dots, same colour: the solver's states at its grid times. ``live.state`` holds the max error at t = 1 and the number of evaluations.
    """
    names = list(FIELDS) if names is None else names
    n_start = check_positive_int(n_start, "n_start")
    ang = torch.arange(n_start) * (2 * math.pi / n_start) + 0.3
    radius = 2.6 - 0.6 * torch.arange(n_start) % 2.4
    x0 = (radius[:, None] * torch.stack([torch.cos(ang), torch.sin(ang)], 1)).double()
    fine = torch.linspace(0, 1, 201, dtype=torch.float64)
    state: dict[str, Any] = {}
    exact_paths: dict[str, np.ndarray] = {}  # name -> exact flow on the fine grid, computed once per field

    def draw(fig: Figure, name: str, method: str, n_steps: int) -> str:
        ax = fig.axes[0]
        f = get_field(name)
        if name not in exact_paths:
            exact_paths[name] = torch.stack([f.flow(x0, float(s)) for s in fine]).numpy()
        exact = exact_paths[name]
        sol = solve(f, x0, method=method, n_steps=n_steps, return_trajectory=True)
        num = sol.trajectory.numpy()
        err = float((sol.x - f.flow(x0, 1.0)).norm(dim=1).max())
        state.update(name=name, method=method, n_steps=n_steps, error=err, nfe=sol.nfe)
        for j in range(x0.shape[0]):
            c = f"C{j}"
            ax.plot(exact[:, j, 0], exact[:, j, 1], color=c, lw=1.5, alpha=0.6)
            ax.plot(num[:, j, 0], num[:, j, 1], "--o", color=c, ms=3.5, lw=1)
            ax.plot(*exact[-1, j], marker="*", ms=11, color=c, markeredgecolor="black", zorder=4)
        ax.scatter(x0[:, 0], x0[:, 1], s=30, color="black", zorder=3)
        style_axes(ax, lim, lim, f"{name}: {method}, {n_steps} steps\nsolid: exact $\\psi_t(x_0)$, star: $\\psi_1(x_0)$")
        return f"{method} with {n_steps} steps ({sol.nfe} evaluations of u): max |error| at t = 1 is {err:.2e}"

    controls = {"name": W.Dropdown(options=names, value="spiral" if "spiral" in names else names[0], description="field"),
                "method": W.Dropdown(options=["euler", "midpoint", "rk4"], value="euler", description="method"),
                "n_steps": W.IntSlider(value=4, min=1, max=40, description="steps")}
    live = LivePlot(draw, controls, figsize=(5.0, 4.6))
    live.state = state  # type: ignore[attr-defined]
    return live


def grid_lines(lim: Lim = (-2.0, 2.0), n_lines: int = 9, n_points: int = 60) -> Tensor:
    """The lines of a square grid as polylines: shape (2 n_lines, n_points, 2) (horizontal, then vertical)."""
    n_lines, n_points = check_positive_int(n_lines, "n_lines", 2), check_positive_int(n_points, "n_points", 2)
    a = torch.linspace(*lim, n_lines)
    s = torch.linspace(*lim, n_points)
    horiz = torch.stack([s[None].expand(n_lines, -1), a[:, None].expand(-1, n_points)], -1)
    vert = torch.stack([a[:, None].expand(-1, n_points), s[None].expand(n_lines, -1)], -1)
    return torch.cat([horiz, vert])


@dataclass
class FlowDemo:
    """Particles and grid lines carried by a flow: times (T + 1,), particles (T + 1, B, 2), grid (T + 1, L, P, 2)."""

    times: Tensor
    particles: Tensor
    grid: Tensor
    frames: list[bytes] = dc_field(repr=False)


def flow_frames(field: "str | ExampleField | Callable[[Tensor, Any], Tensor]", n: int = 300, n_frames: int = 32,
                substeps: int = 2, seed: int = 0, lim: Lim = (-3.0, 3.0), dpi: int = 66, grid_lim: Lim = (-2.0, 2.0),
                title: "str | None" = None) -> FlowDemo:
    """Frames of a flow: left, particles x_0 ~ N(0, I) with their paths; right, a grid deformed by psi_t.

    Both are integrated with RK4 (substeps per frame) from t = 0 to 1. grid_lim: the square the grid
    lines start on. title: the field's name in the panel title (default: ``field.name``).
    """
    f = get_field(field) if isinstance(field, str) else field
    if not callable(f):
        raise TypeError(f"field: expected a field name or a callable field(x, t), got {type(field).__name__}")
    n_frames = check_positive_int(n_frames, "n_frames", 2)
    x0 = torch.randn(check_positive_int(n, "n"), 2, generator=make_generator(seed))
    lines = grid_lines(grid_lim, n_points=100)
    pts = torch.cat([x0, lines.reshape(-1, 2)])
    sol = solve(f, pts, method="rk4", n_steps=(n_frames - 1) * substeps, return_trajectory=True)
    tr = sol.trajectory[::substeps]
    particles, grid = tr[:, :n], tr[:, n:].reshape(n_frames, *lines.shape)
    times = sol.times[::substeps]
    p_np, g_np = particles.numpy(), grid.numpy()
    colors = _angle_colors(p_np[0])
    title = title or getattr(f, "name", "field")

    fig = Figure(figsize=(8.4, 4.3))
    fig.subplots_adjust(left=0.04, right=0.99, bottom=0.07, top=0.92, wspace=0.1)
    a1, a2 = fig.subplots(1, 2)
    trails = _Trails(a1, p_np, colors, lim)
    k = g_np.shape[1] // 2
    curves = [a2.plot(line[:, 0], line[:, 1], color="tab:blue" if j < k else "tab:orange", lw=1)[0]
              for j, line in enumerate(g_np[0])]
    style_axes(a2, lim, lim)
    _no_ticks(a1, keep_labels=True), _no_ticks(a2, keep_labels=True)

    def update(i: int) -> None:
        trails.show(i, f"{title}: particles, t = {times[i]:.2f}")
        for c, line in zip(curves, g_np[i]):
            c.set_data(line[:, 0], line[:, 1])
        a2.set_title(f"grid moved by the flow, t = {times[i]:.2f}", fontsize=10)

    frames = _render(fig, update, n_frames, dpi)
    return FlowDemo(times, particles, grid, frames)


# ---------------------------------------------------------------------------------------------- chapter 3


def path_explorer(target: "GaussianMixture | None" = None, n: int = 4000, seed: int = 0, lim: Lim = (-4.5, 4.5),
                  n_grid: int = 90) -> LivePlot:
    """A time slider over the CondOT probability path p_t: exact density vs a histogram of sampled X_t.

    Left: p_t(x) from F.exact.marginal_log_prob on an n_grid x n_grid grid. Middle: 2-D histogram of
    X_t = t X_1 + (1 - t) X_0 (n fixed draws of X_0 ~ N(0, I), X_1 ~ target). Right: the first
    coordinate's density, exact (the grid integrated over x^(2)) vs the samples' histogram.
    ``live.state`` holds t, the grid's total mass (about 1) and the L1 gap of the 1-D comparison.
    """
    target = target or eight_gaussians_mixture()
    g = make_generator(seed)
    x0 = torch.randn(check_positive_int(n, "n"), 2, generator=g)
    x1 = target.sample(n, seed=g)
    if n_grid % 2:
        raise ValueError(f"n_grid: expected an even number (histograms use every other grid edge), got {n_grid}")
    edges = np.linspace(*lim, n_grid + 1)
    coarse = edges[::2]
    centres = torch.as_tensor((edges[:-1] + edges[1:]) / 2, dtype=torch.float64)
    cell = float(edges[1] - edges[0])
    gy, gx = torch.meshgrid(centres, centres, indexing="ij")
    pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)
    state: dict[str, Any] = {}
    slider = W.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="t")
    # one y range for the 1-D panel over all slider times: fixed axes let every redraw reuse their pixels
    peak = max(float(torch.exp(marginal_log_prob(pts, float(tt), target)).reshape(n_grid, n_grid).sum(0).max()) * cell
               for tt in np.arange(slider.min, slider.max + slider.step / 2, slider.step))
    top = max(0.45, 1.1 * peak)

    def draw(fig: Figure, t: float) -> str:
        a1, a2, a3 = fig.axes
        dens = torch.exp(marginal_log_prob(pts, t, target)).reshape(n_grid, n_grid).numpy()
        xt = ((1 - t) * x0 + t * x1).numpy()
        hist, _, _ = np.histogram2d(xt[:, 1], xt[:, 0], bins=[coarse, coarse], density=True)
        vmax = dens.max()
        a1.imshow(dens, origin="lower", extent=(*lim, *lim), cmap="magma", vmin=0, vmax=vmax)
        style_axes(a1, lim, lim, f"exact $p_t(x)$, $t$ = {t:.2f}")
        a2.imshow(hist, origin="lower", extent=(*lim, *lim), cmap="magma", vmin=0, vmax=vmax)
        style_axes(a2, lim, lim, f"histogram of {n} samples $X_t$")
        exact_1d = dens.sum(0) * cell
        exact_coarse = exact_1d.reshape(-1, 2).mean(1)
        hist_1d, _ = np.histogram(xt[:, 0], bins=coarse, density=True)
        a3.plot(centres, exact_1d, color="black", lw=1.5, label="exact")
        a3.stairs(hist_1d, coarse, color="tab:orange", lw=1.5, label="samples")
        a3.set(xlim=lim, ylim=(0, top), xlabel="$x^{(1)}$",
               ylabel="density of $x^{(1)}$", title="first coordinate")
        a3.set_box_aspect(1)
        a3.legend(fontsize=8, loc="upper right")
        mass = float(dens.sum() * cell**2)
        l1 = float(np.abs(hist_1d - exact_coarse).sum() * 2 * cell)
        state.update(t=t, mass=mass, l1=l1)
        return f"t = {t:.2f}: ∫ p_t dx ≈ {mass:.3f} on the grid; L1 gap between the 1-D histogram and the exact density: {l1:.3f}"

    live = LivePlot(draw, {"t": slider}, figsize=(12.5, 3.8), ncols=3)
    live.state = state  # type: ignore[attr-defined]
    live.samples = (x0, x1)  # type: ignore[attr-defined]
    return live


@dataclass
class PathDemo:
    """Particles carried by the exact marginal field: times (T + 1,), trajectory (T + 1, B, 2), frames."""

    times: Tensor
    trajectory: Tensor
    frames: list[bytes] = dc_field(repr=False)


def path_frames(target: "GaussianMixture | None" = None, n: int = 300, n_frames: int = 31, substeps: int = 3,
                seed: int = 0, lim: Lim = (-4.5, 4.5), n_grid: int = 80, dpi: int = 72) -> PathDemo:
    """Particles pushed by the exact marginal CondOT field over the heat map of p_t: u_t generates p_t."""
    target = target or eight_gaussians_mixture()
    n_frames = check_positive_int(n_frames, "n_frames", 2)
    x0 = torch.randn(check_positive_int(n, "n"), 2, generator=make_generator(seed))
    sol = solve(MarginalField(target), x0, method="midpoint", n_steps=(n_frames - 1) * substeps, return_trajectory=True)
    traj, times = sol.trajectory[::substeps], sol.times[::substeps]
    tr = traj.numpy()
    centres = torch.linspace(*lim, n_grid, dtype=torch.float64)
    gy, gx = torch.meshgrid(centres, centres, indexing="ij")
    pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)

    fig = Figure(figsize=(4.4, 4.4))
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.07, top=0.93)
    ax = fig.add_subplot()
    img = ax.imshow(np.zeros((n_grid, n_grid)), origin="lower", extent=(*lim, *lim), cmap="Blues", interpolation="bilinear")
    dots = ax.scatter(tr[0, :, 0], tr[0, :, 1], s=5, color="tab:red", linewidths=0)
    style_axes(ax, lim, lim)
    _no_ticks(ax, keep_labels=True)

    def update(i: int) -> None:
        dens = torch.exp(marginal_log_prob(pts, float(times[i]), target)).reshape(n_grid, n_grid).numpy()
        img.set_data(dens)
        img.set_clim(0, dens.max())
        dots.set_offsets(tr[i])
        ax.set_title(f"density p_t and particles, t = {times[i]:.2f}", fontsize=10)

    frames = _render(fig, update, n_frames, dpi)
    return PathDemo(times, traj, frames)
