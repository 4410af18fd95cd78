"""Item 1: time-to-quality of the deck's recipe against fmtutor's default 2-D recipe, side by side.

For each seed the two recipes are trained one after the other in this process (the order alternates
from seed to seed so that a drift in the machine's load does not favour one of them), then each model
draws 2,000 samples per reference set with the midpoint rule (100 steps) and is scored by exact W2
against fresh i.i.d. two-moons sets of 2,000 points, divided by the noise floor.
"""

__all__ = ["run_training", "run_threads"]

import time
from typing import Any

import numpy as np
import torch

import fmtutor as F

from .common import Clock, stats
from .common import score as score_model
from .deck import DeckFlow, train_deck


def _fmtutor(seed: int, device: torch.device) -> tuple[Any, dict]:
    with Clock() as c:
        model, res = F.training.train_2d(F.data.two_moons, seed=seed, progress=False, device=device)
    return model, {
        "wall_s": c.wall_s,
        "cpu_s": c.cpu_s,
        "steps": res.steps,
        "final_loss": float(res.losses[-50:].mean()),
    }


def _deck(seed: int, device: torch.device, steps: int) -> tuple[Any, dict]:
    with Clock() as c:
        model, info = train_deck(seed, steps=steps, device=device)
    return model, {**info, "wall_s": c.wall_s, "cpu_s": c.cpu_s}


def run_training(
    seeds: list[int],
    refs: list[torch.Tensor],
    floor: float,
    device: torch.device,
    deck_steps: int = 10_000,
    log: Any = print,
) -> dict[str, Any]:
    """Train both recipes on every seed (alternating order) and score them.

    Returns per-seed rows and min/median/max of W2/floor and of the time ratio fmtutor / deck.
    """
    rows = []
    models = {}
    train_deck(seed=0, steps=20, device=device)  # warm-up: imports, allocator, first-call costs
    F.training.train_2d(F.data.two_moons, seed=0, progress=False, device=device, steps=20)
    for i, seed in enumerate(seeds):
        order = ["deck", "fmtutor"] if i % 2 == 0 else ["fmtutor", "deck"]
        out: dict[str, Any] = {"seed": seed}
        load0 = _load()
        for name in order:
            model, info = (
                _deck(seed, device, deck_steps) if name == "deck" else _fmtutor(seed, device)
            )
            model = model.to("cpu")
            info.update(score_model(model, refs, floor, seed))
            out[name] = info
            models[(name, seed)] = model
            log(
                f"  [{device.type}] seed {seed} {name:8s}: {info['wall_s']:6.1f} s wall, {info['cpu_s']:6.1f} s cpu,"
                f" W2 {info['w2']:.4f} = {info['ratio']:.2f} x floor"
            )
        out["load_avg"] = [load0, _load()]
        out["wall_ratio"] = out["fmtutor"]["wall_s"] / out["deck"]["wall_s"]
        out["cpu_ratio"] = out["fmtutor"]["cpu_s"] / out["deck"]["cpu_s"]
        rows.append(out)
    summary = {
        "deck_ratio": stats(r["deck"]["ratio"] for r in rows),
        "fmtutor_ratio": stats(r["fmtutor"]["ratio"] for r in rows),
        "deck_wall": stats(r["deck"]["wall_s"] for r in rows),
        "fmtutor_wall": stats(r["fmtutor"]["wall_s"] for r in rows),
        "deck_cpu": stats(r["deck"]["cpu_s"] for r in rows),
        "fmtutor_cpu": stats(r["fmtutor"]["cpu_s"] for r in rows),
        "wall_ratio": stats(r["wall_ratio"] for r in rows),
        "cpu_ratio": stats(r["cpu_ratio"] for r in rows),
    }
    summary["quality_met"] = bool(summary["fmtutor_ratio"]["max"] <= 1.10)
    summary["speed_met_wall"] = bool(summary["wall_ratio"]["max"] <= 0.25)
    summary["speed_met_cpu"] = bool(summary["cpu_ratio"]["max"] <= 0.25)
    return {
        "device": str(device),
        "rows": rows,
        "summary": summary,
        "deck_steps": deck_steps,
        "recipe": F.training.DEFAULT_2D,
        "_models": models,
    }


def _load() -> float:
    try:
        import os

        return round(os.getloadavg()[0], 2)
    except OSError:  # pragma: no cover
        return float("nan")


def run_threads(steps: int = 100, repeats: int = 3) -> dict[str, Any]:
    """Per-step cost of the deck's training step with 1 and with 2 torch threads (interleaved repeats).

    Shows why fmtutor trains its small networks on one thread: with more threads than idle cores,
    the threads wait for each other at every tiny operation.
    """
    before = torch.get_num_threads()
    out: dict[str, list[float]] = {}
    try:
        for _ in range(repeats):
            for n in (1, 2):
                torch.set_num_threads(n)
                start = time.perf_counter()
                train_deck(seed=0, steps=steps)
                out.setdefault(str(n), []).append((time.perf_counter() - start) / steps * 1e3)
    finally:
        torch.set_num_threads(before)
    return {
        "ms_per_step": {k: stats(v) for k, v in out.items()},
        "steps": steps,
        "ratio_2_over_1": stats(np.array(out["2"]) / np.array(out["1"])),
    }


__all__ += ["DeckFlow"]
