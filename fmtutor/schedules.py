"""Comparing schedulers: log signal-to-noise ratios, derivatives by autograd, changes of scheduler.

Every affine path x_t = sigma_t x_0 + alpha_t x_1 is fixed by its scheduler (alpha_t, sigma_t). Two
schedulers with the same end points are related by matching their signal-to-noise ratios
rho(t) = alpha_t / sigma_t (Lipman et al. 2024, sec. 4.8 "scheduler change"):

    t_r = rho^{-1}(rho_bar(r)),  s_r = sigma_bar_r / sigma_{t_r},  psi_bar_r(x) = s_r psi_{t_r}(x),

so the exact marginal flows of, e.g., CondOT and cosine map each x_0 to the *same* x_1, along
differently shaped (and differently timed) curves.

>>> import torch
>>> t_r, s_r = snr_time_map(torch.tensor([0.5]), "cosine", "condot")
>>> round(float(t_r), 6), round(float(s_r), 6)    # sin/(sin+cos) and sin+cos at pi/4
(0.5, 1.414214)
"""

__all__ = ["log_snr", "derivatives_autograd", "snr_time_map"]

from typing import Any

import torch
from torch import Tensor

from ._validate import as_tensor, check_positive_int
from .paths import EPS, Scheduler, get_scheduler


def log_snr(t: Any, scheduler: "str | Scheduler") -> Tensor:
    """log SNR(t) = 2 log(alpha_t / sigma_t) (alpha_t and sigma_t floored at EPS), shape of t."""
    s = get_scheduler(scheduler)(t)
    return 2 * (torch.log(s.alpha_t.clamp_min(EPS)) - torch.log(s.sigma_t.clamp_min(EPS)))


def derivatives_autograd(t: Any, scheduler: "str | Scheduler") -> tuple[Tensor, Tensor]:
    """d alpha_t / dt and d sigma_t / dt by autograd (to check a scheduler's closed form).

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


def snr_time_map(
    r: Any, src: "str | Scheduler", dst: "str | Scheduler", iters: int = 60
) -> tuple[Tensor, Tensor]:
    """Where and how much to scale: the time t_r of scheduler ``dst`` with the SNR of ``src`` at r.

    t_r = rho_dst^{-1}(rho_src(r)) (by bisection; rho is increasing) and
    s_r = sigma_src(r) / sigma_dst(t_r), so that the src path at time r is s_r times the dst path at
    time t_r:  x_src(r) = s_r x_dst(t_r).

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
        raise ValueError(
            f"r: expected times in [0, 1], got {r.min().item():.4g} .. {r.max().item():.4g}"
        )
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
