"""Determinism: the same seed gives bit-identical samples, losses and figures; each chapter, run twice, agrees.

Fast checks (default run): training, sampling, data, metrics, SDE noise, Hutchinson probes and rendered
figures are bit-identical for the same seed on the same machine, and training does not depend on the
global RNG state; the snapshot comparison below names the chapter of what it finds missing.

Chapter check (``-m determinism``, about 10 minutes for 12 chapters on 2 cores; run by .ci/run as its own step)::

    python -m pytest -m determinism tests/test_determinism.py -q

Every chapter in notebooks/ is executed twice with nbclient in fresh kernels (``execute`` and ``run_all``
of tests/_chapters.py), in a throwaway copy of notebooks/ that has no ``.cache`` folder:

* run 1 in file order, starting without any cache (so a chapter needs no hidden file);
* between the runs every other ``.cache/*.pt`` file is truncated (a broken cache must be rebuilt);
* run 2 in reverse order (no chapter may depend on which chapters ran before it; caches are now
  loaded, rebuilt over a broken file, or made by another chapter).

The *checked outputs* of a code cell (``checked_outputs`` of tests/_chapters.py), which must be identical
in both runs, are:

* its stdout text and the ``text/plain`` of its results and displays, after ``sanitize``: memory addresses,
  durations ("3.2 s", "41 ms", "12.5it/s"), tqdm bars, the temporary folder and the cache's
  "loaded ... / trained ... and saved ..." line are replaced by placeholders;
* the SHA-256 of every ``image/png`` it displays (the figures' data: a changed pixel fails);
* for the whole chapter, the sorted SHA-256 of every ``Image`` widget's PNG (LivePlot and FramePlayer frames),
  taken from the widget state nbclient stores.

Not checked: stderr (progress bars, warnings), widget views' ``text/plain`` (they hold live values such as
a progress bar's rate), and cells marked ``# NBVAL_IGNORE_OUTPUT`` or tagged ``nbval-ignore-output`` or
``determinism-skip`` (for output that is legitimately not reproducible, e.g. a wall-clock benchmark).
Run 1 is also compared with the committed snapshot, tests/snapshots/checked_outputs.json (``compare``
of tests/_chapters.py): every non-empty line of the snapshot's checked text (PNG hashes included) must
still appear in the chapter's outputs, and its widget images must be the same set, so a change of result
fails with the chapter named. Chapters that are not in the snapshot are skipped by this comparison; a
change meant to change results rewrites the snapshot with ``python -m tests._chapters --write``.

The Chinese edition (notebooks/zh/, ``-m determinism`` too): each zh chapter must print the same **numbers**,
in the same order, as the English snapshot (its words differ; ``numbers`` of tests/_chapters.py takes the
numbers out of its checked lines, leaving out PNG hashes and file paths). It does not execute the zh
chapters again: it takes the executed copies tools/publish.py keeps in .cache/executed/zh/ (``.ci/run``
publishes just before this step, so they are there; run alone, it executes what is missing, as publish
would). Chapters without a zh edition, or not in the snapshot, are skipped; a failure names the chapter
and the first number that differs.

An error in any cell fails the test. Environment knobs: ``FMTUTOR_DET_JOBS`` (kernels at a time,
default 2), ``FMTUTOR_DET_ONLY`` (only chapters whose file name contains one of these comma-separated
texts), ``FMTUTOR_DET_TIMEOUT`` (seconds per cell, default 600), ``FMTUTOR_DET_KEEP`` (folder for the
executed copies, default a temporary one; its path is printed on failure).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import fmtutor as fm
from fmtutor.course import cache, plots, widgets

_chapters = sys.modules["fmtutor_tests_chapters"]  # tests/_chapters.py, loaded by conftest.py
checked_outputs, compare, execute = _chapters.checked_outputs, _chapters.compare, _chapters.execute
checked_lines, compare_numbers = _chapters.checked_lines, _chapters.compare_numbers
run_all, sanitize, snapshot, SNAPSHOT = (
    _chapters.run_all,
    _chapters.sanitize,
    _chapters.snapshot,
    _chapters.SNAPSHOT,
)

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


# ------------------------------------------------------------------------------------------ fast, same-seed checks


def _train(seed: int, global_seed: int):
    torch.manual_seed(1)  # the initial weights
    model = fm.models.MLP(hidden=16, depth=2)
    torch.manual_seed(global_seed)  # must not matter: train_cfm seeds its own draws
    res = fm.training.train_cfm(
        model,
        fm.data.two_moons(256, seed=0),
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
    s1, s2 = fm.training.sample_model(m1, 50, seed=4), fm.training.sample_model(m2, 50, seed=4)
    assert torch.equal(s1, s2)
    _, r3 = _train(4, 10)
    assert not np.array_equal(r1.losses, r3.losses), "another seed should give other losses"
    assert not torch.equal(s1, fm.training.sample_model(m1, 50, seed=5))


def test_train_2d_is_bit_identical_for_a_seed():
    a, ra = fm.recipes.train_2d(
        fm.data.eight_gaussians, seed=2, progress=False, steps=4, batch_size=16, hidden=8
    )
    b, rb = fm.recipes.train_2d(
        fm.data.eight_gaussians, seed=2, progress=False, steps=4, batch_size=16, hidden=8
    )
    assert np.array_equal(ra.losses, rb.losses)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.mark.parametrize("name", sorted(fm.data.SAMPLERS))
def test_data_is_bit_identical_for_a_seed_and_ignores_the_global_rng(name):
    torch.manual_seed(0)
    a = fm.data.sample(name, 64, seed=7)
    torch.manual_seed(1)
    np.random.seed(1)
    assert torch.equal(a, fm.data.sample(name, 64, seed=7))
    g1, g2 = fm.data.make_generator(5), fm.data.make_generator(5)
    assert torch.equal(fm.data.sample(name, 16, seed=g1), fm.data.sample(name, 16, seed=g2))


def test_metrics_and_seeded_randomness_are_bit_identical():
    a, b = fm.data.two_moons(200, seed=0), fm.data.two_moons(200, seed=1)
    assert fm.metrics.wasserstein2(a, b) == fm.metrics.wasserstein2(a, b)
    assert fm.metrics.sliced_wasserstein2(a, b, seed=3) == fm.metrics.sliced_wasserstein2(
        a, b, seed=3
    )
    assert fm.metrics.mmd(a, b) == fm.metrics.mmd(a, b)
    assert fm.metrics.noise_floor(fm.data.two_moons, n=100) == fm.metrics.noise_floor(
        fm.data.two_moons, n=100
    )
    field = fm.exact.MarginalField(fm.data.eight_gaussians_mixture())
    x0 = torch.randn(20, 2, generator=torch.Generator().manual_seed(0))
    e1 = fm.sde.euler_maruyama(field, x0, 1.0, n_steps=5, seed=2).x
    assert torch.equal(e1, fm.sde.euler_maruyama(field, x0, 1.0, n_steps=5, seed=2).x)
    h = [fm.likelihood.divergence_hutchinson(field, x0, 0.5, n_probes=2, seed=9) for _ in range(2)]
    assert torch.equal(h[0], h[1])
    assert fm.exact.cfm_loss_floor(field.target, a, n=500) == fm.exact.cfm_loss_floor(
        field.target, a, n=500
    )


def test_figures_are_bit_identical():
    import ipywidgets as W
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def png() -> bytes:
        ax = plots.scatter(fm.data.spirals(300, seed=0))
        plots.quiver(fm.exact.MarginalField(fm.data.eight_gaussians_mixture()), t=0.5, ax=ax)
        out = plots.figure_png(ax.figure)
        plt.close(ax.figure)
        return out

    assert png() == png()

    def draw(fig, i):
        fig.axes[0].scatter(*fm.data.two_moons(100, seed=i).T)

    assert widgets.render_frames(draw, 3) == widgets.render_frames(draw, 3)
    lives = [
        widgets.LivePlot(lambda fig, k: draw(fig, k), {"k": W.IntSlider(2, 0, 5)}) for _ in range(2)
    ]
    assert lives[0].image.value == lives[1].image.value and len(lives[0].image.value) > 1000


# ------------------------------------------------------------------------------------------ chapters, run twice


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
    run1 = run_all(copies, jobs, timeout)
    caches = sorted((work / ".cache").glob("*.pt")) if (work / ".cache").exists() else []
    for p in caches[::2]:  # break every other cache: it must be rebuilt, and give the same outputs
        p.write_bytes(p.read_bytes()[: max(1, p.stat().st_size // 3)])
    run2 = run_all(copies[::-1], jobs, timeout)
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
    expected = json.loads(SNAPSHOT.read_text())
    known = {
        name: want for name, want in expected.items() if name in run1
    }  # others: not in the snapshot
    changed = compare(snapshot(run1, str(work)), known)
    stray = sorted(
        str(p)
        for p in {p.relative_to(work) for p in work.rglob("*")} - before
        if p.parts[0] != ".cache" and not p.name.startswith(".") and p.suffix != ".pyc"
    )
    print(
        "\n".join(report)
        + f"\ntotal {total:.0f} s for {len(chapters)} chapters twice ({jobs} at a time); "
        f"{len(caches)} cache files, {len(caches[::2])} broken before run 2; "
        f"{len(known)} of them compared with the snapshot"
    )
    assert not bad, "\n\n".join(bad)
    assert not changed, (
        f"run 1 lost checked outputs of the snapshot {SNAPSHOT.name} (executed copies in {keep}):\n"
        + "\n".join(changed)
    )
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
    runs = [checked_outputs(execute(path, 120)[0]) for _ in range(2)]
    assert runs[0]["cell 0"] == runs[1]["cell 0"]  # seeded numbers, sanitized timing
    assert runs[0]["cell 1"] != runs[1]["cell 1"]  # unseeded: caught
    assert "cell 2" not in runs[0]  # opted out


def test_cached_model_leaves_the_global_rng_alike_whether_it_trains_or_loads(tmp_path):
    """A chapter's later unseeded draws must not depend on whether its model came from the cache."""

    def train():
        torch.manual_seed(123)  # what train_2d does
        return fm.models.MLP(hidden=4, depth=1)

    path = tmp_path / "m.pt"
    torch.manual_seed(0)
    assert cache.cached_model(path, train, {"a": 1}, verbose=False).status == "trained"
    after_training = torch.rand(3)
    torch.manual_seed(0)
    assert cache.cached_model(path, train, {"a": 1}, verbose=False).status == "loaded"
    assert torch.equal(after_training, torch.rand(3))


def test_snapshot_comparison_names_the_chapter_and_skips_chapters_it_lacks():
    expected = {
        "00_a.ipynb": {
            "lines": ["W2 = 0.051", "png 0123456789abcdef"],
            "widget images": ["aa", "bb"],
        },
        "01_b.ipynb": {"lines": ["loss 1.0"], "widget images": []},
    }
    same = {
        "00_a.ipynb": {
            "lines": ["new line", "W2 = 0.051", "png 0123456789abcdef"],
            "widget images": ["bb", "aa"],
        }
    }
    assert compare(same, expected) == []  # 01_b was not run: skipped; added lines are fine
    assert compare({"02_new.ipynb": {"lines": [], "widget images": []}}, expected) == []
    lost = {
        "00_a.ipynb": {
            "lines": ["W2 = 0.052", "png 0123456789abcdef"],
            "widget images": ["aa", "cc"],
        }
    }
    problems = compare(lost, expected)
    assert len(problems) == 2 and all(p.startswith("00_a.ipynb: ") for p in problems)
    assert "W2 = 0.051" in problems[0] and "widget images differ" in problems[1]


def test_every_chapter_of_the_snapshot_still_exists():
    """A renamed chapter would silently escape the snapshot comparison (which skips unknown names)."""
    snap = json.loads(SNAPSHOT.read_text())
    gone = sorted(set(snap) - {p.name for p in NOTEBOOKS.glob("*.ipynb")})
    assert not gone, (
        f"the snapshot names chapters that are gone: {gone}; rewrite it (python -m tests._chapters --write)"
    )
    assert all(v["lines"] for v in snap.values())


# ------------------------------------------------------------------------------ the Chinese edition


@pytest.mark.determinism
def test_chinese_chapters_print_the_numbers_of_the_english_snapshot():
    if str(ROOT / "tools") not in sys.path:
        sys.path.insert(0, str(ROOT / "tools"))
    import publish  # tools/publish.py: its zh executions are reused, not repeated

    only = [s for s in os.environ.get("FMTUTOR_DET_ONLY", "").split(",") if s] or [""]
    expected = json.loads(SNAPSHOT.read_text())
    found = publish.editions(NOTEBOOKS).get("zh", [])
    chapters = [c for c in found if any(s in c.path.name for s in only) and c.path.name in expected]
    if not chapters:
        pytest.skip("no chapter of the Chinese edition (notebooks/zh/) is in the snapshot")
    jobs = max(1, int(os.environ.get("FMTUTOR_DET_JOBS", "2")))
    executed = publish.execute_edition(chapters, "zh", ROOT, jobs=jobs)
    folder = str(NOTEBOOKS / "zh")
    lines = {
        c.path.name: checked_lines(checked_outputs(executed[c.stem], folder)) for c in chapters
    }
    print(f"{len(chapters)} zh chapters compared with the snapshot: {[c.stem for c in chapters]}")
    problems = compare_numbers(lines, expected)
    assert not problems, (
        "the Chinese edition prints other numbers than the English snapshot "
        f"({SNAPSHOT.name}):\n" + "\n".join(problems)
    )


def test_numbers_comparison_names_the_chapter_and_the_first_differing_line():
    expected = {
        "00_a.ipynb": {
            "lines": [
                "seed 0, 1 CPU thread(s)",
                "png 0123456789abcdef",
                "W2 = 0.051 after 300 steps, trained in <duration>",
            ],
            "widget images": [],
        },
        "01_b.ipynb": {"lines": ["loss 1.0"], "widget images": []},
    }
    reordered = [
        "随机种子 0，1 个 CPU 线程",
        "png fedcba9876543210",
        "300 步之后 W2 = 0.051，用时 <duration>",
    ]
    ok = ["随机种子 0，1 个 CPU 线程", "W2 = 0.051，300 步之后", "模型缓存 ../.cache/ch05_v2.pt"]
    assert compare_numbers({"00_a.ipynb": reordered, "02_new.ipynb": ["7"]}, expected) == []
    assert compare_numbers({"00_a.ipynb": ok[:2]}, expected) == []
    wrong = ["随机种子 0，1 个 CPU 线程", "W2 = 0.052，300 步之后"]
    (problem,) = compare_numbers({"00_a.ipynb": wrong}, expected)
    assert (
        problem.startswith("00_a.ipynb: line 2: English prints ['0.051', '300']")
        and "0.052" in problem
    )
    (lost,) = compare_numbers({"00_a.ipynb": ["随机种子 0，一个 CPU 线程", wrong[1]]}, expected)
    assert lost.startswith("00_a.ipynb: line 1: English prints ['0', '1']")
    (short,) = compare_numbers({"01_b.ipynb": ["损失 1.0", "多出的一行 2"]}, expected)
    assert short == "01_b.ipynb: English has 1 checked lines, Chinese 2"
    assert _chapters.sanitize("训练用时 2.0 秒，1500 步") == "训练用时 <duration>，1500 步"
