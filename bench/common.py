"""Shared pieces of the benchmark: the evaluation protocol (W2 over the noise floor), timers, statistics."""

__all__ = [
    "N_EVAL",
    "Clock",
    "stats",
    "fmt_stats",
    "make_moons_set",
    "reference_sets",
    "floors",
    "score",
    "machine_info",
    "sample_with",
    "lockstep_cpu",
]

import os
import platform
import resource
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from sklearn.datasets import make_moons

import fmtutor as fm

#: Points per set in every W2 (exact, linear_sum_assignment): 2,000 vs 2,000.
N_EVAL = 2000


@dataclass
class Clock:
    """Wall and CPU seconds of a block (CPU: this process, all threads; children excluded).

    CPU time is what the block would cost on an idle core; wall time also counts waiting for the
    other processes that share the machine.
    """

    wall_s: float = 0.0
    cpu_s: float = 0.0
    _w: float = field(default=0.0, repr=False)
    _c: float = field(default=0.0, repr=False)

    def __enter__(self) -> "Clock":
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self._w, self._c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: Any) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.wall_s, self.cpu_s = time.perf_counter() - self._w, time.process_time() - self._c


def lockstep_cpu(jobs: dict[str, Callable[[Callable[..., None]], Any]]) -> dict[str, float]:
    """Run jobs step by step in turn and return each one's own CPU seconds (``time.thread_time``).

    Each job runs in its own thread and is called with a callback ``turn(*args)`` that it calls
    after every step (e.g. train_cfm's ``callback``): the callback hands the turn to the next job
    that has not finished and waits for it to come back. Only the job holding the turn runs, so
    every job meets the same state of a shared machine a few milliseconds apart, and a busy
    neighbour slows all of them alike (where back-to-back runs seconds apart can catch one quiet
    and the other busy). The jobs' threads are pinned to one core (where the OS allows it): left
    free, each tends to stay on the core it last ran on, and two cores can differ. The first job
    starts; a job's own set-up (before its first step) counts towards its time. An exception in a
    job is raised here once all have stopped.
    """
    names = list(jobs)
    cond = threading.Condition()
    turn, done = [names[0]], set()
    cpu: dict[str, float] = {}
    errors: list[BaseException] = []

    def pass_on(name: str) -> None:  # with cond held
        i = names.index(name)
        later = [names[(i + k) % len(names)] for k in range(1, len(names) + 1)]
        turn[0] = next(n for n in later if n not in done or n == name)
        cond.notify_all()

    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []

    def run(name: str) -> None:
        torch.set_num_threads(1)  # intra-op threads are set per thread: one, as everywhere here
        if cores:  # one core for all (this thread only): no job gets a quieter or warmer core
            os.sched_setaffinity(0, {cores[-1]})

        def step(*_: Any) -> None:
            with cond:
                pass_on(name)
                cond.wait_for(lambda: turn[0] == name)

        with cond:
            cond.wait_for(lambda: turn[0] == name)
        start = time.thread_time()
        try:
            jobs[name](step)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(exc)
        finally:
            cpu[name] = time.thread_time() - start
            with cond:
                done.add(name)
                pass_on(name)

    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in names]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        raise errors[0]
    return cpu


def stats(values: Any) -> dict[str, float]:
    """min / median / max (and n) of a list of numbers."""
    v = np.asarray(list(values), dtype=float)
    return {
        "min": float(v.min()),
        "median": float(np.median(v)),
        "max": float(v.max()),
        "n": int(v.size),
    }


def fmt_stats(s: dict[str, float], digits: int = 2, unit: str = "") -> str:
    """'median (min-max)' for a stats() dict."""
    f = f"{{:.{digits}f}}"
    return f"{f.format(s['median'])}{unit} ({f.format(s['min'])}–{f.format(s['max'])})"


def make_moons_set(n: int, seed: int) -> torch.Tensor:
    """scikit-learn's ``make_moons(n, noise=0.05)``: exactly n/2 points per moon at evenly spaced angles.

    Not an i.i.d. sample (``fmtutor.data.two_moons`` is): two such sets are closer to each other than
    any sampler's output can be, so they only show, for context, how strict a stratified floor would be.
    """
    return torch.as_tensor(
        make_moons(n, noise=0.05, random_state=seed % 2**32)[0], dtype=torch.float32
    )


def reference_sets(k: int) -> list[torch.Tensor]:
    """k fresh i.i.d. two-moons reference sets of 2,000 points (``fmtutor.data.two_moons``, fixed seeds, never trained on)."""
    return [fm.data.two_moons(N_EVAL, seed=900_000 + r) for r in range(k)]


def floors(refs: list[torch.Tensor], repeats: int) -> dict[str, Any]:
    """Noise floors of W2 at 2,000 vs 2,000 points.

    * ``iid``: a fresh i.i.d. set against each reference set in turn (``repeats`` pairs): what a *perfect*
      sampler scores in this evaluation, the floor every ratio uses;
    * ``make_moons``: two stratified ``make_moons`` sets (half as many pairs), for context only.
    """
    out: dict[str, Any] = {}
    pairs = {
        "iid": lambda r: (fm.data.two_moons(N_EVAL, seed=70_000 + r), refs[r % len(refs)]),
        "make_moons": lambda r: (
            make_moons_set(N_EVAL, 80_000 + 2 * r),
            make_moons_set(N_EVAL, 80_001 + 2 * r),
        ),
    }
    for name, make in pairs.items():
        n = repeats if name == "iid" else max(2, repeats // 2)
        vals = [fm.metrics.wasserstein2(*make(r)) for r in range(n)]
        out[name] = {
            "mean": float(np.mean(vals)),
            "std": float(np.std(vals)),
            "se": float(np.std(vals) / np.sqrt(n)),
            **stats(vals),
        }
    return out


@torch.no_grad()
def sample_with(
    model: Any, n: int, seed: int, method: str = "midpoint", n_steps: int = 100
) -> torch.Tensor:
    """n samples of ``model`` from x_0 ~ N(0, I) (seeded) with a fixed-grid solver, on the CPU."""
    return fm.training.sample_model(model, n, method=method, n_steps=n_steps, seed=seed).cpu()


def score(model: Any, refs: list[torch.Tensor], floor: float, seed: int = 0) -> dict[str, Any]:
    """Mean W2 of the model's samples against each reference set (own samples per set), and W2 / floor.

    Samples: midpoint rule, 100 steps (the deck's sampler), 2,000 points per reference set.
    """
    vals = [
        fm.metrics.wasserstein2(sample_with(model, N_EVAL, 50_000 + 97 * seed + r), ref)
        for r, ref in enumerate(refs)
    ]
    w2 = float(np.mean(vals))
    return {"w2": w2, "ratio": w2 / floor, "w2_each": vals}


def machine_info() -> dict[str, Any]:
    """CPU count, load averages, torch threads and versions: the context every number was measured in."""
    try:
        load = os.getloadavg()
    except OSError:  # pragma: no cover - not on every platform
        load = (float("nan"),) * 3
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "cpus": os.cpu_count(),
        "load_avg": [round(x, 2) for x in load],
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "gpu": gpu,
        "device": str(fm.default_device()),
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
