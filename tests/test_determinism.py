"""Determinism: the same seed gives bit-identical samples, losses and figures; each chapter, run twice, agrees.

Fast checks (default run): training, sampling, data, metrics, SDE noise, Hutchinson probes and rendered
figures are bit-identical for the same seed on the same machine, and training does not depend on the
global RNG state.

Chapter check (``-m determinism``, about 10 minutes for 12 chapters on 2 cores; run by .ci/run as its own step)::

    python -m pytest -m determinism tests/test_determinism.py -q

Every chapter in notebooks/ is executed twice with nbclient in fresh kernels, in a throwaway copy of
notebooks/ that has no ``.cache`` folder:

* run 1 in file order, starting without any cache (so a chapter needs no hidden file);
* between the runs every other ``.cache/*.pt`` file is truncated (a broken cache must be rebuilt);
* run 2 in reverse order (no chapter may depend on which chapters ran before it; caches are now
  loaded, rebuilt over a broken file, or made by another chapter).

The *checked outputs* of a code cell, which must be identical in both runs, are:

* its stdout text and the ``text/plain`` of its results and displays, after ``sanitize``: memory addresses,
  durations ("3.2 s", "41 ms", "12.5it/s"), tqdm bars, the temporary folder and the cache's
  "loaded ... / trained ... and saved ..." line are replaced by placeholders;
* the SHA-256 of every ``image/png`` it displays (the figures' data: a changed pixel fails);
* for the whole chapter, the sorted SHA-256 of every ``Image`` widget's PNG (LivePlot and FramePlayer frames),
  taken from the widget state nbclient stores.

Not checked: stderr (progress bars, warnings), widget views' ``text/plain`` (they hold live values such as
a progress bar's rate), and cells marked ``# NBVAL_IGNORE_OUTPUT`` or tagged ``nbval-ignore-output`` or
``determinism-skip`` (for output that is legitimately not reproducible, e.g. a wall-clock benchmark).
An error in any cell fails the test. Environment knobs: ``FMTUTOR_DET_JOBS`` (kernels at a time,
default 2), ``FMTUTOR_DET_ONLY`` (only chapters whose file name contains one of these comma-separated
texts), ``FMTUTOR_DET_TIMEOUT`` (seconds per cell, default 600), ``FMTUTOR_DET_KEEP`` (folder for the
executed copies, default a temporary one; its path is printed on failure).
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import fmtutor as F

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


# ------------------------------------------------------------------------------------------ fast, same-seed checks


def _train(seed: int, global_seed: int):
    torch.manual_seed(1)  # the initial weights
    model = F.models.MLP(hidden=16, depth=2)
    torch.manual_seed(global_seed)  # must not matter: train_cfm seeds its own draws
    res = F.training.train_cfm(
        model,
        F.data.two_moons(256, seed=0),
        steps=6,
        batch_size=32,
        seed=seed,
        progress=False,
        device="cpu",
    )
    return model, res


def test_training_and_sampling_are_bit_identical_for_a_seed():
    m1, r1 = _train(3, 10)
    m2, r2 = _train(3, 99)
    assert np.array_equal(r1.losses, r2.losses) and np.array_equal(r1.lrs, r2.lrs)
    assert all(
        torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values())
    )
    s1, s2 = F.training.sample_model(m1, 50, seed=4), F.training.sample_model(m2, 50, seed=4)
    assert torch.equal(s1, s2)
    _, r3 = _train(4, 10)
    assert not np.array_equal(r1.losses, r3.losses), "another seed should give other losses"
    assert not torch.equal(s1, F.training.sample_model(m1, 50, seed=5))


def test_train_2d_is_bit_identical_for_a_seed():
    a, ra = F.training.train_2d(
        F.data.eight_gaussians, seed=2, progress=False, steps=4, batch_size=16, hidden=8
    )
    b, rb = F.training.train_2d(
        F.data.eight_gaussians, seed=2, progress=False, steps=4, batch_size=16, hidden=8
    )
    assert np.array_equal(ra.losses, rb.losses)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.mark.parametrize("name", sorted(F.data.SAMPLERS))
def test_data_is_bit_identical_for_a_seed_and_ignores_the_global_rng(name):
    torch.manual_seed(0)
    a = F.data.sample(name, 64, seed=7)
    torch.manual_seed(1)
    np.random.seed(1)
    assert torch.equal(a, F.data.sample(name, 64, seed=7))
    g1, g2 = F.data.make_generator(5), F.data.make_generator(5)
    assert torch.equal(F.data.sample(name, 16, seed=g1), F.data.sample(name, 16, seed=g2))


def test_metrics_and_seeded_randomness_are_bit_identical():
    a, b = F.data.two_moons(200, seed=0), F.data.two_moons(200, seed=1)
    assert F.metrics.wasserstein2(a, b) == F.metrics.wasserstein2(a, b)
    assert F.metrics.sliced_wasserstein2(a, b, seed=3) == F.metrics.sliced_wasserstein2(
        a, b, seed=3
    )
    assert F.metrics.mmd(a, b) == F.metrics.mmd(a, b)
    assert F.metrics.noise_floor(F.data.two_moons, n=100) == F.metrics.noise_floor(
        F.data.two_moons, n=100
    )
    field = F.exact.MarginalField(F.data.eight_gaussians_mixture())
    x0 = torch.randn(20, 2, generator=torch.Generator().manual_seed(0))
    e1 = F.sde.euler_maruyama(field, x0, 1.0, n_steps=5, seed=2).x
    assert torch.equal(e1, F.sde.euler_maruyama(field, x0, 1.0, n_steps=5, seed=2).x)
    h = [F.likelihood.divergence_hutchinson(field, x0, 0.5, n_probes=2, seed=9) for _ in range(2)]
    assert torch.equal(h[0], h[1])
    assert F.exact.cfm_loss_floor(field.target, a, n=500) == F.exact.cfm_loss_floor(
        field.target, a, n=500
    )


def test_figures_are_bit_identical():
    import ipywidgets as W
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def png() -> bytes:
        ax = F.plots.scatter(F.data.spirals(300, seed=0))
        F.plots.quiver(F.exact.MarginalField(F.data.eight_gaussians_mixture()), t=0.5, ax=ax)
        out = F.plots.figure_png(ax.figure)
        plt.close(ax.figure)
        return out

    assert png() == png()

    def draw(fig, i):
        fig.axes[0].scatter(*F.data.two_moons(100, seed=i).T)

    assert F.widgets.render_frames(draw, 3) == F.widgets.render_frames(draw, 3)
    lives = [
        F.widgets.LivePlot(lambda fig, k: draw(fig, k), {"k": W.IntSlider(2, 0, 5)})
        for _ in range(2)
    ]
    assert lives[0].image.value == lives[1].image.value and len(lives[0].image.value) > 1000


# ------------------------------------------------------------------------------------------ chapters, run twice

_SANITIZE = [
    (re.compile(r"0x[0-9a-fA-F]{6,}"), "0xADDR"),
    (re.compile(r"^.*\d+%\|.*\|.*$", re.M), "<progress>"),  # a tqdm bar that reached stdout
    (
        re.compile(r"(loaded the trained model from|trained a model \(.*\) and saved it to) \S+"),
        "<cached model>",
    ),
    (re.compile(r"\d+(\.\d+)?\s*(it/s|s/it)"), "<rate>"),
    (
        re.compile(r"\b\d+(\.\d+)?(e[-+]?\d+)?\s*(ms|µs|us|ns|s|sec|secs|seconds|min|minutes)\b"),
        "<duration>",
    ),
]


def sanitize(text: str, root: "str | None" = None) -> str:
    """Replace what legitimately changes between two runs (see the module docstring) by placeholders."""
    if root:
        text = text.replace(root, "<ROOT>")
    for rx, rep in _SANITIZE:
        text = rx.sub(rep, text)
    return text.rstrip()


def _skipped(cell) -> bool:
    tags = set(cell.get("metadata", {}).get("tags", []))
    return "NBVAL_IGNORE_OUTPUT" in cell.source or bool(
        tags & {"nbval-ignore-output", "determinism-skip"}
    )


def checked_outputs(nb, root: "str | None" = None) -> dict[str, object]:
    """The checked outputs of an executed notebook: per-cell sanitized text and PNG hashes, plus widget PNG hashes."""
    cells = {}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or _skipped(cell):
            continue
        outputs = cell.get("outputs", [])
        stdout = "".join(
            o.text for o in outputs if o.output_type == "stream" and o.name == "stdout"
        )
        parts = (
            [sanitize(stdout, root)] if stdout.strip() else []
        )  # one text: how it was split into messages varies
        for o in outputs:
            if o.output_type == "stream":
                continue
            elif o.output_type in ("execute_result", "display_data"):
                data = o.get("data", {})
                if "application/vnd.jupyter.widget-view+json" in data:
                    continue
                if "image/png" in data:
                    parts.append(
                        "png "
                        + hashlib.sha256("".join(data["image/png"].split()).encode()).hexdigest()[
                            :16
                        ]
                    )
                elif "text/plain" in data:
                    parts.append(sanitize(data["text/plain"], root))
            elif o.output_type == "error":
                parts.append(f"error {o.ename}: {o.evalue}")
        cells[f"cell {i}"] = "\n".join(parts)
    state = (
        nb.metadata.get("widgets", {})
        .get("application/vnd.jupyter.widget-state+json", {})
        .get("state", {})
    )
    images = sorted(
        hashlib.sha256(b["data"].encode()).hexdigest()[:16]
        for m in state.values()
        if m.get("model_name") == "ImageModel"
        for b in m.get("buffers", [])
        if "data" in b
    )
    cells["widget images"] = images
    return cells


def _execute(path: Path, timeout: int):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=False,
        store_widget_state=True,
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    return nb, time.perf_counter() - start


def _run_all(paths: list[Path], jobs: int, timeout: int) -> dict[str, tuple[object, float]]:
    with cf.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {p.name: pool.submit(_execute, p, timeout) for p in paths}
        return {name: f.result() for name, f in futures.items()}


def _first_difference(a: dict, b: dict) -> str:
    import difflib

    for key in a:
        if a[key] != b.get(key):
            one, two = (
                v if isinstance(v, str) else "\n".join(map(str, v))
                for v in (a[key], b.get(key, ""))
            )
            diff = difflib.unified_diff(
                one.splitlines(), two.splitlines(), "run 1", "run 2", lineterm="", n=1
            )
            return f"{key}:\n" + "\n".join(list(diff)[:40])
    return "(none)"


@pytest.mark.determinism
def test_every_chapter_gives_identical_checked_outputs_twice(tmp_path, monkeypatch):
    only = [s for s in os.environ.get("FMTUTOR_DET_ONLY", "").split(",") if s] or [""]
    chapters = sorted(p for p in NOTEBOOKS.glob("*.ipynb") if any(s in p.name for s in only))
    if not chapters:
        pytest.skip("no chapters")
    jobs = max(1, int(os.environ.get("FMTUTOR_DET_JOBS", "2")))
    timeout = int(os.environ.get("FMTUTOR_DET_TIMEOUT", "600"))
    monkeypatch.setenv(
        "OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // jobs))
    )  # the same in both runs
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    work = tmp_path / "notebooks"
    shutil.copytree(
        NOTEBOOKS,
        work,
        ignore=shutil.ignore_patterns(".cache", ".ipynb_checkpoints", "__pycache__"),
    )
    before = {p.relative_to(work) for p in work.rglob("*")}
    copies = [work / p.name for p in chapters]

    start = time.perf_counter()
    run1 = _run_all(copies, jobs, timeout)
    caches = sorted((work / ".cache").glob("*.pt")) if (work / ".cache").exists() else []
    for p in caches[::2]:  # break every other cache: it must be rebuilt, and give the same outputs
        p.write_bytes(p.read_bytes()[: max(1, p.stat().st_size // 3)])
    run2 = _run_all(copies[::-1], jobs, timeout)
    total = time.perf_counter() - start

    import nbformat

    report, bad = [], []
    keep = Path(os.environ.get("FMTUTOR_DET_KEEP", tmp_path / "executed"))
    keep.mkdir(parents=True, exist_ok=True)
    for p in chapters:
        (nb1, s1), (nb2, s2) = run1[p.name], run2[p.name]
        nbformat.write(nb1, keep / f"run1_{p.name}")
        nbformat.write(nb2, keep / f"run2_{p.name}")
        c1, c2 = checked_outputs(nb1, str(work)), checked_outputs(nb2, str(work))
        report.append(
            f"{p.name}: {s1:.0f} s + {s2:.0f} s, {len(c1) - 1} cells, {len(c1['widget images'])} widget images"
        )
        if c1 != c2:
            bad.append(
                f"{p.name} differs between the two runs at {_first_difference(c1, c2)}\n(executed copies in {keep})"
            )
    stray = sorted(
        str(p)
        for p in {p.relative_to(work) for p in work.rglob("*")} - before
        if p.parts[0] != ".cache" and not p.name.startswith(".") and p.suffix != ".pyc"
    )
    print(
        "\n".join(report)
        + f"\ntotal {total:.0f} s for {len(chapters)} chapters twice ({jobs} at a time); "
        f"{len(caches)} cache files, {len(caches[::2])} broken before run 2"
    )
    assert not bad, "\n\n".join(bad)
    assert not stray, f"chapters wrote files outside the documented .cache/: {stray}"


def test_sanitize_keeps_numbers_and_drops_timings():
    text = (
        "trained a model (missing) and saved it to /tmp/x/.cache/m.pt\nloss 0.1234 after 300 steps in 2.5 s "
        "(12.3it/s) at 0x7f3a2b1c9d00\nW2 = 0.051"
    )
    out = sanitize(text, "/tmp/x")
    assert "0.1234" in out and "300 steps" in out and "W2 = 0.051" in out
    assert (
        "2.5 s" not in out
        and "12.3it/s" not in out
        and "0x7f" not in out
        and "<cached model>" in out
    )
    assert sanitize("loaded the trained model from /tmp/x/.cache/m.pt") == "<cached model>"


@pytest.mark.determinism
def test_the_chapter_check_catches_a_nondeterministic_cell(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import time, torch\ntorch.manual_seed(0)\nprint(torch.randn(2), f'{time.time() % 1:.3f} s')"
        ),
        nbformat.v4.new_code_cell(
            "print(torch.randn(2, generator=torch.Generator().manual_seed(int(time.time() * 1e6) % 1000)))"
        ),
        nbformat.v4.new_code_cell("# NBVAL_IGNORE_OUTPUT\nprint(time.time())"),
    ]
    path = tmp_path / "probe.ipynb"
    nbformat.write(nb, path)
    runs = [checked_outputs(_execute(path, 120)[0]) for _ in range(2)]
    assert runs[0]["cell 0"] == runs[1]["cell 0"]  # seeded numbers, sanitized timing
    assert runs[0]["cell 1"] != runs[1]["cell 1"]  # unseeded: caught
    assert "cell 2" not in runs[0]  # opted out


def test_cached_model_leaves_the_global_rng_alike_whether_it_trains_or_loads(tmp_path):
    """A chapter's later unseeded draws must not depend on whether its model came from the cache."""

    def train():
        torch.manual_seed(123)  # what train_2d does
        return F.models.MLP(hidden=4, depth=1)

    path = tmp_path / "m.pt"
    torch.manual_seed(0)
    assert F.io.cached_model(path, train, {"a": 1}, verbose=False).status == "trained"
    after_training = torch.rand(3)
    torch.manual_seed(0)
    assert F.io.cached_model(path, train, {"a": 1}, verbose=False).status == "loaded"
    assert torch.equal(after_training, torch.rand(3))
