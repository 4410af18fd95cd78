"""Item 2: sampling accuracy against cost for the fixed-grid solvers, on a trained model and the exact field.

For each solver (Euler, midpoint, Heun, RK4) and each budget NFE in {2, 4, ..., 64} (steps = NFE /
evaluations per step; RK4 has no 2-NFE grid), the samples are scored by W2 / floor against the same
reference sets as the training benchmark, beside a reference solution of the same starting points
from scipy's adaptive DOP853 at rtol = atol = 1e-8 (in float64). ``err`` is the RMS distance between
a solver's end points and the reference's (the discretisation error itself, free of sampling noise).

The exact field of a finite point set is singular at t = 1 (sigma_1 = 0: the velocity there is
(x_1 - x) / sigma_1 towards the nearest point), and Heun and RK4 evaluate the field at t = 1 in their
last step; so that field is integrated to t = 1 - 1e-3 by every solver (EXACT_T1), and one extra
cell records what Heun and RK4 do when they are sent all the way to t = 1.
"""

__all__ = ["METHODS", "NFES", "EXACT_T1", "run_sampling", "adaptive_solve"]

import copy
import time
from typing import Any

import numpy as np
import torch

import fmtutor as fm

from .common import N_EVAL, stats

METHODS = {"euler": 1, "midpoint": 2, "heun": 2, "rk4": 4}
NFES = (2, 4, 8, 16, 32, 64)
EXACT_T1 = 1.0 - 1e-3


def adaptive_solve(
    model: Any, x0: torch.Tensor, rtol: float = 1e-8, atol: float = 1e-8, t1: float = 1.0
) -> tuple[torch.Tensor, int]:
    """Integrate dx/dt = model(x, t) from t=0 to t1 with scipy's DOP853 (float64); returns (x_t1, nfe)."""
    from scipy.integrate import solve_ivp

    shape = x0.shape

    @torch.no_grad()
    def f(t: float, y: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(y).reshape(shape)
        return model(x, torch.tensor(t, dtype=torch.float64)).reshape(-1).numpy()

    sol = solve_ivp(
        f, (0.0, t1), x0.double().reshape(-1).numpy(), method="DOP853", rtol=rtol, atol=atol
    )
    if not sol.success:
        raise RuntimeError(f"adaptive reference failed: {sol.message}")
    return torch.from_numpy(sol.y[:, -1]).reshape(shape), int(sol.nfev)


def _fields(model: Any, pool_size: int) -> dict[str, Any]:
    m64 = copy.deepcopy(model).double().eval()
    exact = fm.exact.MarginalField(fm.data.two_moons(pool_size, seed=12345).double())
    return {"model": m64, "exact": exact}


@torch.no_grad()
def run_sampling(
    model: Any,
    refs: list[torch.Tensor],
    floor: float,
    n_sets: int = 2,
    time_repeats: int = 3,
    exact_pool: int = 1000,
    exact_sets: int = 1,
    log: Any = print,
    model_ot: Any = None,
) -> dict[str, Any]:
    """Score every (field, method, NFE); time the trained model per 10,000 samples.

    Args:
        model: a trained velocity network (CPU).
        refs: reference sets (the first n_sets are used).
        floor: the noise floor W2 divides by.
        n_sets: sample sets (one per reference set) averaged per cell for the trained model.
        time_repeats: timing repeats per cell (min/median/max).
        exact_pool: points of the target whose exact marginal field is integrated.
        exact_sets: sample sets for the exact field (each of its evaluations costs 2,000 x exact_pool).
        model_ot: optionally, the same recipe trained with minibatch-OT pairs (scored like ``model``).
    """
    fields = _fields(model, exact_pool)
    if model_ot is not None:
        fields["model_ot"] = copy.deepcopy(model_ot).double().eval()
    x0s = [
        torch.randn(N_EVAL, 2, generator=fm.data.make_generator(60_000 + r), dtype=torch.float64)
        for r in range(n_sets)
    ]
    out: dict[str, Any] = {"fields": {}, "nfes": list(NFES), "methods": list(METHODS)}
    for name, field in fields.items():
        sets = x0s[:exact_sets] if name == "exact" else x0s
        t1 = EXACT_T1 if name == "exact" else 1.0
        ref_pts, ref_nfe, ref_s = [], [], 0.0
        for x0 in sets:
            start = time.perf_counter()
            x, nfe = adaptive_solve(field, x0, t1=t1)
            ref_s += time.perf_counter() - start
            ref_pts.append(x)
            ref_nfe.append(nfe)
        ref_w2 = float(np.mean([fm.metrics.wasserstein2(x, r) for x, r in zip(ref_pts, refs)]))
        res: dict[str, Any] = {
            "adaptive": {"w2": ref_w2, "ratio": ref_w2 / floor, "nfe": ref_nfe, "seconds": ref_s},
            "grid": {},
            "sets": len(sets),
            "t1": t1,
        }
        log(
            f"  {name}: adaptive DOP853 W2 {ref_w2:.4f} = {ref_w2 / floor:.2f} x floor, NFE {ref_nfe}"
        )
        for method, per in METHODS.items():
            for nfe in NFES:
                if nfe < per:
                    continue
                w2s, errs = [], []
                for x0, xr, r in zip(sets, ref_pts, refs):
                    x = fm.solvers.solve(field, x0, method=method, n_steps=nfe // per, t1=t1).x
                    w2s.append(fm.metrics.wasserstein2(x, r))
                    errs.append(float(((x - xr) ** 2).sum(1).mean().sqrt()))
                w2 = float(np.mean(w2s))
                res["grid"][f"{method}/{nfe}"] = {
                    "method": method,
                    "nfe": nfe,
                    "w2": w2,
                    "ratio": w2 / floor,
                    "vs_adaptive": w2 / ref_w2,
                    "err": float(np.mean(errs)),
                }
        if (
            name == "model"
        ):  # the same budget on a grid that takes shorter steps near t = 1: t = 1 - (1 - s)^1.5
            res["warped_midpoint"] = {}
            for nfe in (4, 8, 16):
                grid = 1 - (1 - torch.linspace(0, 1, nfe // 2 + 1, dtype=torch.float64)) ** 1.5
                w2 = float(
                    np.mean(
                        [
                            fm.metrics.wasserstein2(
                                fm.solvers.solve(field, x0, method="midpoint", time_grid=grid).x, r
                            )
                            for x0, r in zip(sets, refs)
                        ]
                    )
                )
                res["warped_midpoint"][str(nfe)] = {
                    "w2": w2,
                    "ratio": w2 / floor,
                    "vs_adaptive": w2 / ref_w2,
                }
        out["fields"][name] = res
    singular = {}
    for method in ("heun", "rk4"):
        x = fm.solvers.solve(fields["exact"], x0s[0], method=method, n_steps=8 // METHODS[method]).x
        singular[f"{method}/8"] = (
            fm.metrics.wasserstein2(x, refs[0]) / floor
            if bool(torch.isfinite(x).all())
            else float("inf")
        )
    out["exact_to_t1"] = singular
    # cost: the trained model (float32, as the chapters use it), 10,000 samples
    x0 = torch.randn(10_000, 2, generator=fm.data.make_generator(1))
    timing = {}
    for method, per in METHODS.items():
        for nfe in NFES:
            if nfe < per:
                continue
            ts = []
            for _ in range(time_repeats):
                start = time.perf_counter()
                fm.solvers.solve(model, x0, method=method, n_steps=nfe // per)
                ts.append((time.perf_counter() - start) * 1e3)
            timing[f"{method}/{nfe}"] = stats(ts)
    out["timing_ms_per_10k"] = timing
    mid = out["fields"]["model"]["grid"]["midpoint/8"]["vs_adaptive"]
    out["target_midpoint8"] = {
        "vs_adaptive": mid,
        "met": bool(mid <= 1.05),
        "exact_vs_adaptive": out["fields"]["exact"]["grid"]["midpoint/8"]["vs_adaptive"],
    }
    if "model_ot" in out["fields"]:
        ot = out["fields"]["model_ot"]["grid"]["midpoint/8"]["vs_adaptive"]
        out["target_midpoint8"].update(ot_vs_adaptive=ot, ot_met=bool(ot <= 1.05))
    return out
