"""Item 1: time-to-quality of the deck's recipe against fmtutor's default 2-D recipe, side by side.

For each seed the two recipes are trained one after the other in this process (the order alternates
from seed to seed so that a drift in the machine's load does not favour one of them), then each model
draws 2,000 samples per reference set with the midpoint rule (100 steps) and is scored by exact W2
against fresh i.i.d. two-moons sets of 2,000 points, divided by the noise floor.
"""

__all__ = ["run_training", "run_threads", "run_public_call", "DirectTrainer", "train_2d_direct"]

import time
from typing import Any

import numpy as np
import torch

import fmtutor as fm

from .common import Clock, stats
from .common import score as score_model
from .deck import DeckFlow, train_deck


def _fmtutor(seed: int, device: torch.device) -> tuple[Any, dict]:
    with Clock() as c:
        model, res = fm.recipes.train_2d(
            fm.data.two_moons, seed=seed, progress=False, device=device
        )
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
    fm.recipes.train_2d(fm.data.two_moons, seed=0, progress=False, device=device, steps=20)
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
        "recipe": fm.recipes.DEFAULT_2D,
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


def _adam_like_fmtutor(model: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
    """Adam as ``train_cfm`` builds it: fused into one kernel where this torch supports it."""
    params = [p for p in model.parameters() if p.requires_grad]
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=lr)


def _cosine(steps: int, floor: float = 0.01) -> np.ndarray:
    s = np.arange(steps) / steps
    return floor + (1 - floor) * 0.5 * (1 + np.cos(np.pi * s))


class DirectTrainer:
    """The default 2-D recipe on two moons, one step at a time, calling the MLP's private ``_velocity``.

    The reference for the public call: ``fmtutor.recipes.train_2d(two_moons, seed=seed)`` trains through
    ``model(x, t)`` (which checks its input and turns t into a column on every call); this is the same
    recipe, the same pool, the same draws from the same generator and the same optimiser and schedule,
    with the fast path the training loop used before the redesign: x_t = x_0 + t (x_1 - x_0) formed
    inline and ``model._velocity(x_t, t_col)`` called without checks. CPU only; the caller sets threads.
    """

    def __init__(self, seed: int = 0, steps: "int | None" = None) -> None:
        cfg = fm.recipes.DEFAULT_2D
        tcfg = cfg["train"]
        expected = {"steps", "batch_size", "lr", "lr_schedule", "time_sampling"}
        if (
            set(tcfg) != expected
            or tcfg["lr_schedule"] != "cosine"
            or tcfg["time_sampling"] != "stratified"
        ):
            raise RuntimeError(
                f"DEFAULT_2D['train'] changed ({tcfg}): update bench.training.DirectTrainer"
            )
        self.steps = tcfg["steps"] if steps is None else steps
        self.batch = tcfg["batch_size"]
        self.pool = fm.data.two_moons(cfg["pool_size"], seed=seed + 12345)
        torch.manual_seed(seed)
        self.model = fm.models.MLP(dim=self.pool.shape[1], **cfg["model"])
        self.g = fm.data.make_generator(seed)
        self.model.train()
        self.opt = _adam_like_fmtutor(self.model, tcfg["lr"])
        self.base_lrs = [group["lr"] for group in self.opt.param_groups]
        self.factors = _cosine(self.steps)
        self.losses = torch.empty(self.steps)
        self.step_index = 0

    def step(self) -> None:
        """One optimisation step (the old fast path)."""
        g, batch, i = self.g, self.batch, self.step_index
        x1 = self.pool[torch.randint(0, self.pool.shape[0], (batch,), generator=g)]
        x0 = torch.randn(x1.shape, generator=g, dtype=x1.dtype)
        t = torch.rand(batch, generator=g, dtype=x1.dtype)
        t = (torch.arange(batch, dtype=t.dtype) + t) / batch
        tc = t[:, None]
        dx = x1 - x0
        loss = (self.model._velocity(x0 + tc * dx, tc, None) - dx).square().sum(1).mean()
        for group, base in zip(self.opt.param_groups, self.base_lrs):
            group["lr"] = base * self.factors[i]
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.losses[i] = loss.detach()
        self.step_index += 1


def train_2d_direct(seed: int = 0, steps: "int | None" = None) -> tuple[Any, np.ndarray]:
    """Run a DirectTrainer to the end on one CPU thread; returns (model in eval mode, per-step losses)."""
    trainer = DirectTrainer(seed, steps)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(trainer.steps):
            trainer.step()
    finally:
        torch.set_num_threads(threads)
    return trainer.model.eval(), trainer.losses.double().numpy()


def run_public_call(repeats: int = 3, seed: int = 0, log: Any = print) -> dict[str, Any]:
    """The default recipe through ``model(x, t)`` against the same loop calling ``_velocity`` directly.

    The two trainings run in lockstep in one thread: ``train_2d`` is given a callback that, after each
    of its steps, makes one step of the DirectTrainer. Every step of each is timed in this thread's CPU
    time (``time.thread_time``: time spent running, so a busy machine's preemptions do not count), and
    the cost of a step is the median over the 3,000 steps, robust to the odd slow one; the public step's
    time also holds train_cfm's read of the loss for the callback (a few microseconds). ``repeats``
    such runs after one short warm-up. The per-step losses of the two must be bit-identical.
    """
    fm.recipes.train_2d(fm.data.two_moons, seed=seed, progress=False, device="cpu", steps=20)
    train_2d_direct(seed, steps=20)
    rows = []
    identical = True
    for r in range(repeats):
        direct = DirectTrainer(seed)
        pub: list[float] = []
        ref: list[float] = []
        mark = [0.0]

        def after_step(step: int, loss: float) -> None:
            now = time.thread_time()
            pub.append(now - mark[0])
            direct.step()
            ref.append(time.thread_time() - now)
            mark[0] = time.thread_time()

        load0 = _load()
        mark[0] = time.thread_time()
        _, res = fm.recipes.train_2d(
            fm.data.two_moons, seed=seed, progress=False, device="cpu", callback=after_step
        )
        # the first step of each also holds set-up and first-call costs: left out
        p_us, d_us = np.array(pub[1:]) * 1e6, np.array(ref[1:]) * 1e6
        same = bool(np.array_equal(res.losses, direct.losses.double().numpy()))
        identical &= same
        row = {
            "repeat": r,
            "public_us": float(np.median(p_us)),
            "direct_us": float(np.median(d_us)),
            "ratio": float(np.median(p_us) / np.median(d_us)),
            "sum_ratio": float(p_us.sum() / d_us.sum()),
            "public_s": float(p_us.sum() / 1e6),
            "direct_s": float(d_us.sum() / 1e6),
            "identical_losses": same,
            "final_loss": float(res.losses[-50:].mean()),
            "load_avg": [load0, _load()],
        }
        rows.append(row)
        log(
            f"  repeat {r}: median step public {row['public_us']:.0f} us, direct {row['direct_us']:.0f} us,"
            f" ratio {row['ratio']:.3f} (of the summed steps {row['sum_ratio']:.3f});"
            f" losses {'bit-identical' if same else 'DIFFER'}"
        )
    ratio = stats(r["ratio"] for r in rows)
    return {
        "rows": rows,
        "repeats": repeats,
        "steps": fm.recipes.DEFAULT_2D["train"]["steps"],
        "public_us": stats(r["public_us"] for r in rows),
        "direct_us": stats(r["direct_us"] for r in rows),
        "ratio": ratio,
        "sum_ratio": stats(r["sum_ratio"] for r in rows),
        "identical_losses": identical,
        "met": bool(identical and ratio["median"] <= 1.05),
    }


__all__ += ["DeckFlow"]
