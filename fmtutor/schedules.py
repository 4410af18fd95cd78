"""Comparing schedulers: signal-to-noise ratios, the change of scheduler, straightness, and a t-slider widget.

Every affine path x_t = sigma_t x_0 + alpha_t x_1 is fixed by its scheduler (alpha_t, sigma_t). Two
schedulers with the same end points are related by matching their signal-to-noise ratios
rho(t) = alpha_t / sigma_t (Lipman et al. 2024, sec. 4.8 "scheduler change"):

    t_r = rho^{-1}(rho_bar(r)),   s_r = sigma_bar_r / sigma_{t_r},   psi_bar_r(x) = s_r psi_{t_r}(x),

so the exact marginal flows of, e.g., CondOT and cosine map each x_0 to the *same* x_1, along
differently shaped (and differently timed) curves.

>>> import torch
>>> t_r, s_r = snr_time_map(torch.tensor([0.5]), "cosine", "condot")
>>> round(float(t_r), 6), round(float(s_r), 6)    # sin/(sin+cos) and sin+cos at pi/4
(0.5, 1.414214)
"""

__all__ = ["log_snr", "derivatives_autograd", "snr_time_map", "straightness", "path_length_ratio",
           "schedule_widget"]

from typing import Any

import torch
from torch import Tensor

from ._validate import as_tensor, check_positive_int
from .paths import EPS, Scheduler, get_scheduler


_NAMES = {"condot": "CondOT", "cosine": "cosine", "vp": "VP", "polynomial": "polynomial"}


def log_snr(t: Any, scheduler: "str | Scheduler") -> Tensor:
    """log SNR(t) = 2 log(alpha_t / sigma_t) (alpha_t and sigma_t floored at EPS), shape of t."""
    s = get_scheduler(scheduler)(t)
    return 2 * (torch.log(s.alpha_t.clamp_min(EPS)) - torch.log(s.sigma_t.clamp_min(EPS)))


def derivatives_autograd(t: Any, scheduler: "str | Scheduler") -> tuple[Tensor, Tensor]:
    """d alpha_t / dt and d sigma_t / dt by automatic differentiation (to check a scheduler's closed form).

    Args:
        t: times in [0, 1], shape (T,).
        scheduler: Scheduler or name.

    Returns:
        (d_alpha, d_sigma), each of shape (T,).
    """
    t = as_tensor(t, "t").detach().reshape(-1).clone().requires_grad_(True)
    s = get_scheduler(scheduler)(t)
    d_alpha = torch.autograd.grad(s.alpha_t.sum(), t, retain_graph=True)[0]
    d_sigma = torch.autograd.grad(s.sigma_t.sum(), t)[0]
    return d_alpha, d_sigma


def _rho(t: Tensor, scheduler: Scheduler) -> Tensor:
    s = scheduler(t)
    return s.alpha_t / s.sigma_t.clamp_min(EPS)


def snr_time_map(r: Any, src: "str | Scheduler", dst: "str | Scheduler", iters: int = 60) -> tuple[Tensor, Tensor]:
    """Where and how much to scale: the time t_r of scheduler ``dst`` with the same SNR as ``src`` at r.

    t_r = rho_dst^{-1}(rho_src(r)) (by bisection; rho is increasing) and s_r = sigma_src(r) / sigma_dst(t_r),
    so that the src path at time r is s_r times the dst path at time t_r:  x_src(r) = s_r x_dst(t_r).

    Args:
        r: times of the src scheduler in [0, 1], any shape.
        src, dst: Schedulers or names.
        iters: bisection steps (60 reach float64 resolution).

    Returns:
        (t_r, s_r), both with the shape of r (float64).
    """
    src, dst = get_scheduler(src), get_scheduler(dst)
    iters = check_positive_int(iters, "iters")
    r = as_tensor(r, "r", dtype=torch.float64)
    if torch.isnan(r).any() or (r < 0).any() or (r > 1).any():
        raise ValueError(f"r: expected times in [0, 1], got {r.min().item():.4g} .. {r.max().item():.4g}")
    target = _rho(r, src)
    lo, hi = torch.zeros_like(r), torch.ones_like(r)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        below = _rho(mid, dst) < target
        lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
    t_r = 0.5 * (lo + hi)
    s_r = src(r).sigma_t / dst(t_r).sigma_t.clamp_min(EPS)
    # at r = 1 both sigmas vanish; the ratio's limit is alpha_src / alpha_dst
    at_end = src(r).sigma_t < 1e-12
    s_r = torch.where(at_end, src(r).alpha_t / dst(t_r).alpha_t.clamp_min(EPS), s_r)
    return t_r, s_r


def _check_traj(traj: Any, times: Any) -> tuple[Tensor, Tensor]:
    traj = as_tensor(traj, "traj", dtype=torch.float64)
    times = as_tensor(times, "times", dtype=torch.float64)
    if traj.ndim != 3:
        raise ValueError(f"traj: expected shape (T + 1, B, d), got {tuple(traj.shape)}")
    if times.shape != (traj.shape[0],):
        raise ValueError(f"times: expected shape ({traj.shape[0]},) to match traj, got {tuple(times.shape)}")
    if times.shape[0] >= 2 and not bool((times[1:] > times[:-1]).all()):
        raise ValueError(f"times: expected a strictly increasing grid, got {times.tolist()}"[:300])
    return traj, times


def straightness(traj: Any, times: Any) -> Tensor:
    """Deviation from a straight, constant-speed path, per particle.

    S = int_0^1 || dx_t/dt - (x_1 - x_0) ||^2 dt, approximated on the grid by finite differences:
    0 exactly when every particle moves on a line at constant speed (then one Euler step is exact).

    Args:
        traj: states on the grid, shape (T + 1, B, d).
        times: the grid, shape (T + 1,), from 0 to 1.

    Returns:
        S for each particle, shape (B,).
    """
    traj, times = _check_traj(traj, times)
    h = (times[1:] - times[:-1])[:, None, None]
    vel = (traj[1:] - traj[:-1]) / h
    chord = (traj[-1] - traj[0]) / (times[-1] - times[0])
    return (((vel - chord) ** 2).sum(-1) * h[:, :, 0]).sum(0)


def path_length_ratio(traj: Any) -> Tensor:
    """Length of each polyline divided by its end-to-end distance (1 for a straight path), shape (B,)."""
    traj = as_tensor(traj, "traj", dtype=torch.float64)
    if traj.ndim != 3:
        raise ValueError(f"traj: expected shape (T + 1, B, d), got {tuple(traj.shape)}")
    length = (traj[1:] - traj[:-1]).norm(dim=-1).sum(0)
    return length / (traj[-1] - traj[0]).norm(dim=-1).clamp_min(1e-12)


def schedule_widget(x_0: Tensor, x_1: Tensor, schedulers: "tuple[str | Scheduler, ...]" = ("condot", "cosine", "vp"),
                    t: float = 0.5, n_lines: int = 12, lim: float = 4.0) -> Any:
    """A LivePlot with a slider over t: x_t = sigma_t x_0 + alpha_t x_1 under each scheduler, side by side.

    The same pairs (x_0, x_1) are used in every panel, so only the schedule differs. The text under the plot
    lists alpha_t, sigma_t and log SNR for each scheduler; ``live.state['rows']`` holds (name, alpha_t, sigma_t, log SNR) per panel.

    Args:
        x_0: source points, shape (B, 2). x_1: data points, shape (B, 2).
        schedulers: Schedulers or names, one panel each.
        t: initial slider value.
        n_lines: how many pairs to draw with their whole path x_s, s in [0, 1].
        lim: half-width of the square axes.
    """
    import ipywidgets as W

    from .plots import style_axes
    from .widgets import LivePlot

    x_0, x_1 = as_tensor(x_0, "x_0"), as_tensor(x_1, "x_1")
    if x_0.ndim != 2 or x_0.shape[1] != 2 or x_0.shape != x_1.shape:
        raise ValueError(f"x_0, x_1: expected two (B, 2) tensors, got {tuple(x_0.shape)} and {tuple(x_1.shape)}")
    scheds = [get_scheduler(s) for s in schedulers]
    grid = torch.linspace(0, 1, 101, dtype=torch.float64)
    lines = []
    for sc in scheds:
        o = sc(grid)
        lines.append((o.sigma_t[:, None, None] * x_0[None, :n_lines].double()
                      + o.alpha_t[:, None, None] * x_1[None, :n_lines].double()).numpy())
    slider = W.FloatSlider(value=t, min=0.0, max=1.0, step=0.01, description="t", continuous_update=True)
    state: dict[str, Any] = {}

    def draw(fig: Any, t: float) -> str:
        rows = []
        for ax, sc, ln in zip(fig.axes, scheds, lines):
            o = sc(torch.tensor(t, dtype=torch.float64))
            xt = (o.sigma_t * x_0.double() + o.alpha_t * x_1.double()).numpy()
            ax.scatter(*x_1.numpy().T, s=2, color="0.8", label="data $x_1$")
            ax.plot(ln[:, :, 0], ln[:, :, 1], color="tab:blue", lw=0.8, alpha=0.7)
            ax.scatter(*xt.T, s=3, color="tab:red", label="$x_t$")
            ls = float(log_snr(torch.tensor(t, dtype=torch.float64), sc))
            rows.append((sc.name, float(o.alpha_t), float(o.sigma_t), ls))
            style_axes(ax, (-lim, lim), title=f"{_NAMES.get(sc.name, sc.name)}: α={float(o.alpha_t):.2f}, σ={float(o.sigma_t):.2f}")
        state["rows"] = rows
        return "<br>".join(f"<b>{n}</b>: α_t = {a:.3f}, σ_t = {s:.3f}, log SNR = {ls:.2f}" for n, a, s, ls in rows)

    live = LivePlot(draw, {"t": slider}, figsize=(4.4 * len(scheds), 4.2), ncols=len(scheds))
    live.state = state
    return live

