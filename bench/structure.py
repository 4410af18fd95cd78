"""Issue 17: k-NN precision and recall beside W2 / floor (support), and the pool-OT recipe (ot-pool).

``support``: the default 2-D recipe trained on two spirals with a short budget and with the default
budget (and on two moons, for comparison), each scored against held-out sets by W2 / floor and by
``fmtutor.support.precision_recall`` (k = 5, n = 2,000), next to fresh data's own precision and
recall against the same sets.

``ot-pool``: ``train_2d(coupling="independent")`` (the default) and ``train_2d(coupling="ot")``
(pairs fixed once by exact assignments in chunks of ``fmtutor.recipes.OT_CHUNK``) trained side by
side on two moons and 8 Gaussians; W2 at 8 NFE (midpoint, 4 steps) against W2 of the same model
with a fine reference solver (RK4, 50 steps = 200 NFE), and the training times.
"""

__all__ = ["run_support", "run_ot_pool", "support_md", "ot_pool_md"]

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

import fmtutor as fm

from .common import N_EVAL, Clock, sample_with

#: The short budget of the support section (optimiser steps; the default recipe's is 3,000).
SHORT_STEPS = 500
#: A longer budget on spirals, to see whether the support score recovers with training.
LONG_STEPS = 12_000
#: Reference sets per target (held out: seeds never used in training).
N_SETS = 3
#: Fresh sets in each target's W2 noise floor (fresh set i against held-out set i mod N_SETS).
FLOOR_PAIRS = 6
REF_SOLVER = ("rk4", 50)
#: Trainings per recipe in ot-pool (seed 0 each time: the same model); times are their medians.
TIME_REPEATS = 3


def _refs_and_floor(sampler: Callable[..., torch.Tensor]) -> tuple[list, list, float]:
    refs = [sampler(N_EVAL, seed=910_000 + r) for r in range(N_SETS)]
    fresh = [sampler(N_EVAL, seed=920_000 + i) for i in range(FLOOR_PAIRS)]
    floor = float(
        np.mean([fm.metrics.wasserstein2(f, refs[i % N_SETS]) for i, f in enumerate(fresh)])
    )
    return refs, fresh[:N_SETS], floor


def _train(sampler: Callable[..., torch.Tensor], **kw: Any) -> tuple[Any, dict[str, float]]:
    with Clock() as clock:
        model, _ = fm.recipes.train_2d(sampler, seed=0, progress=False, device="cpu", **kw)
    return model, {"wall_s": clock.wall_s, "cpu_s": clock.cpu_s}


def _pr(sets: list, refs: list) -> dict[str, float]:
    got = [fm.support.precision_recall(s, r) for s, r in zip(sets, refs)]
    return {
        "precision": float(np.mean([g.precision for g in got])),
        "recall": float(np.mean([g.recall for g in got])),
    }


def run_support(log: Callable[[str], None]) -> dict[str, Any]:
    """Spirals at a short, the default and a long budget, moons at the default: W2 / floor, support."""
    rows, cache = [], {}
    budgets = (
        ("spirals", SHORT_STEPS),
        ("spirals", None),
        ("spirals", LONG_STEPS),
        ("moons", None),
    )
    for target, steps in budgets:
        sampler = fm.data.SAMPLERS[target]
        if target not in cache:
            cache[target] = _refs_and_floor(sampler)
        refs, fresh, floor = cache[target]
        own = _pr(fresh, refs)
        model, times = _train(sampler, **({} if steps is None else {"steps": steps}))
        with torch.no_grad():
            sets = [sample_with(model, N_EVAL, 50_000 + r) for r in range(N_SETS)]
        w2 = float(np.mean([fm.metrics.wasserstein2(s, r) for s, r in zip(sets, refs)]))
        pr = _pr(sets, refs)
        row = {
            "target": target,
            "steps": steps or fm.recipes.DEFAULT_2D["train"]["steps"],
            **times,
            "floor": floor,
            "w2": w2,
            "ratio": w2 / floor,
            **pr,
            "fresh": own,
        }
        rows.append(row)
        log(
            f"  {target}, {row['steps']} steps: W2/floor {row['ratio']:.2f}, precision "
            f"{pr['precision']:.3f} (fresh {own['precision']:.3f}), recall {pr['recall']:.3f} "
            f"(fresh {own['recall']:.3f}), {times['cpu_s']:.1f} s CPU"
        )
    return {
        "k": fm.support.K,
        "n": fm.support.N,
        "n_sets": N_SETS,
        "floor_pairs": FLOOR_PAIRS,
        "rows": rows,
    }


def run_ot_pool(log: Callable[[str], None]) -> dict[str, Any]:
    """Default and coupling='ot' side by side: W2 at 8 NFE vs the fine reference, train times."""
    g = fm.data.make_generator(0)
    size = fm.recipes.DEFAULT_2D["pool_size"]
    with Clock() as pairing:
        fm.recipes.pool_ot_pairing(
            torch.randn(size, 2, generator=g), fm.data.two_moons(size, seed=1)
        )
    log(f"  pairing a {size:,}-point pool: {pairing.cpu_s:.2f} s CPU")
    rows = []
    for target in ("moons", "8gaussians"):
        sampler = fm.data.SAMPLERS[target]
        refs, _, floor = _refs_and_floor(sampler)
        models, clocks = {}, {"independent": [], "ot": []}
        for _ in range(TIME_REPEATS):  # alternated, so both see the same load
            for coupling in clocks:
                models[coupling], times = _train(sampler, coupling=coupling)
                clocks[coupling].append(times)
        for coupling, model in models.items():
            times = {
                key: float(np.median([c[key] for c in clocks[coupling]]))
                for key in ("wall_s", "cpu_s")
            }
            w2 = {}
            with torch.no_grad():
                for label, (method, n_steps) in (("nfe8", ("midpoint", 4)), ("ref", REF_SOLVER)):
                    w2[label] = float(
                        np.mean(
                            [
                                fm.metrics.wasserstein2(
                                    sample_with(model, N_EVAL, 60_000 + r, method, n_steps), ref
                                )
                                for r, ref in enumerate(refs)
                            ]
                        )
                    )
            row = {"target": target, "coupling": coupling, **times, "floor": floor, **w2}
            row["cpu_s_each"] = [c["cpu_s"] for c in clocks[coupling]]
            row["nfe8_over_ref"] = w2["nfe8"] / w2["ref"]
            rows.append(row)
            log(
                f"  {target}, {coupling}: 8 NFE / reference {row['nfe8_over_ref']:.3f} "
                f"(W2/floor {w2['nfe8'] / floor:.2f} vs {w2['ref'] / floor:.2f}), "
                f"{times['cpu_s']:.1f} s CPU"
            )
    return {
        "chunk": fm.recipes.OT_CHUNK,
        "pool_size": size,
        "pairing_cpu_s": pairing.cpu_s,
        "ref_solver": list(REF_SOLVER),
        "time_repeats": TIME_REPEATS,
        "n_sets": N_SETS,
        "floor_pairs": FLOOR_PAIRS,
        "rows": rows,
    }


def _run_line(sec: dict[str, Any]) -> list[str]:
    run = sec.get("run")
    if not run:
        return []
    return [
        f"*Ran {run['date']} (`{run['command']}`); load averages {run['load_start']} at the start,"
        f" {run['load_end']} at the end (2 cores).*",
        "",
    ]


def support_md(res: dict[str, Any]) -> list[str]:
    """RESULTS.md section: W2 / floor beside k-NN precision and recall."""
    sp = res.get("support")
    if not sp:
        return []
    L = [
        "## 8. A support-aware score: k-NN precision and recall beside W2 / floor (issue 17)",
        "",
        *_run_line(sp),
        "`bench/structure.py`: the default recipe (`train_2d`, seed 0; one training seed) at several"
        f" budgets; 2,000 samples (midpoint, 100 steps) against each of {sp['n_sets']} held-out sets."
        f" Precision and recall: `fmtutor.support.precision_recall`, k = {sp['k']}, n = {sp['n']:,}."
        " 'fresh' = fresh data sets scored against the same held-out sets; the W2 floor averages"
        f" {sp.get('floor_pairs', sp['n_sets'])} fresh sets against them.",
        "",
        "| target | steps | CPU s | W2/floor | precision | fresh | recall | fresh |"
        " W2/floor <= 1.10 | both >= 0.95 x fresh |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in sp["rows"]:
        ok = (
            r["precision"] >= 0.95 * r["fresh"]["precision"]
            and r["recall"] >= 0.95 * r["fresh"]["recall"]
        )
        L.append(
            f"| {r['target']} | {r['steps']:,} | {r['cpu_s']:.1f} | {r['ratio']:.2f} |"
            f" {r['precision']:.3f} | {r['fresh']['precision']:.3f} | {r['recall']:.3f} |"
            f" {r['fresh']['recall']:.3f} | {'yes' if r['ratio'] <= 1.10 else 'no'} |"
            f" {'yes' if ok else 'no'} |"
        )
    return L + [""]


def ot_pool_md(res: dict[str, Any]) -> list[str]:
    """RESULTS.md section: 8-NFE midpoint against the fine reference, default vs coupling='ot'."""
    op = res.get("ot_pool")
    if not op:
        return []
    method, n_steps = op["ref_solver"]
    L = [
        '## 9. Pool OT: `train_2d(coupling="ot")` at 8 NFE (issue 17)',
        "",
        *_run_line(op),
        f"`bench/structure.py`: pairs fixed once on the {op['pool_size']:,}-point pool by exact"
        f" assignments in chunks of {op['chunk']} ({op['pairing_cpu_s']:.2f} s CPU, inside the OT"
        " rows' training time), trained side by side with the default (seed 0; train CPU s: median"
        f" of {op.get('time_repeats', 1)} trainings, alternated). W2 of 2,000 samples"
        f" at 8 NFE (midpoint, 4 steps) and with {method} at {n_steps} steps (the reference), mean"
        f" over {op['n_sets']} held-out sets (floor: {op.get('floor_pairs', op['n_sets'])} fresh"
        " sets against them); goal: 8 NFE within 5% of the reference, training"
        " at most 1.2 x the default's.",
        "",
        "| target | coupling | train CPU s | x default | W2/floor 8 NFE | W2/floor reference |"
        " 8 NFE / reference | within 5% |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    base = {r["target"]: r["cpu_s"] for r in op["rows"] if r["coupling"] == "independent"}
    for r in op["rows"]:
        L.append(
            f"| {r['target']} | {r['coupling']} | {r['cpu_s']:.1f} |"
            f" {r['cpu_s'] / base[r['target']]:.2f} | {r['nfe8'] / r['floor']:.2f} |"
            f" {r['ref'] / r['floor']:.2f} | {r['nfe8_over_ref']:.3f} |"
            f" {'yes' if r['nfe8_over_ref'] <= 1.05 else 'no'} |"
        )
    return L + [""]
