"""fmtutor.images: image grids, the digit-classifier metric, training with snapshots, sampling, the widget, the exercise."""

import numpy as np
import pytest
import torch

from fmtutor import exercises as E
from fmtutor import images as I
from fmtutor.data import load_digits

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def split():
    return I.split_digits()


@pytest.fixture(scope="module")
def clf(split):
    return I.fit_digit_classifier(split)


@pytest.fixture(scope="module")
def run(split):
    model = I.digit_model(0, hidden=64, depth=2)
    return I.train_digits(
        split.x_train,
        split.y_train,
        steps=150,
        snapshot_steps=(0, 50, 150),
        progress=False,
        model=model,
    )


def test_image_grid_puts_image_k_at_row_k_div_ncols_and_column_k_mod_ncols():
    b, ncols, pad = 7, 3, 2
    x = torch.arange(b, dtype=torch.float64)[:, None].repeat(1, 64)  # image k is all k
    x[:, 5] += 0.5  # pixel (0, 5) marks the orientation
    grid = I.image_grid(x, ncols=ncols, pad=pad)
    assert grid.shape == (3 * 10 - 2, 3 * 10 - 2)
    for k in range(b):
        r, c = divmod(k, ncols)
        block = grid[r * 10 : r * 10 + 8, c * 10 : c * 10 + 8]
        assert np.allclose(block, x[k].reshape(8, 8).numpy()), f"image {k} is not at ({r}, {c})"
        assert block[0, 5] == k + 0.5
    assert np.isnan(grid[8:10]).all() and np.isnan(grid[:, 8:10]).all(), (
        "padding rows/columns hold the fill value"
    )
    assert np.isnan(grid[20:, 10:]).all(), "the two empty cells after image 6 are fill"


def test_to_images_and_tile_images_follow_the_row_major_formula():
    x = torch.randn(6, 64, generator=torch.Generator().manual_seed(0))
    imgs = I.to_images(x)
    i, j = 3, 6
    assert torch.equal(imgs[:, i, j], x[:, 8 * i + j])
    rows, cols = 2, 3
    m = I.tile_images(x, rows, cols)
    for r in range(rows):
        for c in range(cols):
            assert torch.equal(m[8 * r + i, 8 * c + j], x[r * cols + c, 8 * i + j])
    assert torch.equal(m, E.reference_tile_images(x, rows, cols))
    assert np.allclose(I.image_grid(x, ncols=cols, pad=0), m.numpy())


def test_digits_match_sklearn_scaling(split):
    from sklearn.datasets import load_digits as sk

    d = sk()
    x, y = load_digits()
    assert torch.allclose(I.to_images(x), torch.as_tensor(d.images, dtype=torch.float32) / 8 - 1)
    assert len(split.x_train) + len(split.x_test) == len(x) == 1797
    assert float(split.x_train.min()) == -1.0 and float(split.x_train.max()) == 1.0


def test_classifier_is_accurate_on_held_out_digits_and_at_chance_on_noise(split, clf):
    assert clf.accuracy(split.x_test, split.y_test) > 0.93
    per = clf.per_class_accuracy(split.x_test, split.y_test)
    assert per.shape == (10,) and per.min() > 0.8
    noise = torch.rand(2000, 64, generator=torch.Generator().manual_seed(1)) * 2 - 1
    asked = torch.arange(10).repeat(200)
    assert 0.04 < clf.accuracy(noise, asked) < 0.16, (
        "noise should be read as the requested digit about 1 time in 10"
    )


def test_sample_quality_separates_real_digits_from_noise(split, clf):
    real = I.sample_quality(split.x_test, split.y_test, clf, split.x_train)
    noise = torch.randn(397, 64, generator=torch.Generator().manual_seed(2))
    fake = I.sample_quality(noise, split.y_test, clf, split.x_train)
    assert real["accuracy"] > 0.93 and fake["accuracy"] < 0.25
    assert real["sliced_w2"] < 0.1 < fake["sliced_w2"]
    assert real["nn_distance"] < 0.5 * fake["nn_distance"]


def test_a_few_training_steps_decrease_the_loss_and_snapshots_are_paired(run):
    assert run.losses.shape == (150,)
    assert run.losses[-30:].mean() < 0.8 * run.losses[:10].mean()
    assert run.snapshot_steps == [0, 50, 150]
    assert run.snapshots.shape == (3, 10, 64) and torch.equal(run.snapshot_labels, torch.arange(10))
    # the last snapshot is exactly what the final model generates from the snapshot noise
    again = I.sample_digits(run.model, torch.arange(10), 1.0, 10, "midpoint", seed=777)
    assert torch.allclose(again, run.snapshots[-1], atol=1e-5)
    assert not torch.allclose(run.snapshots[0], run.snapshots[-1], atol=1e-2)


def test_sample_digits_nfe_guidance_and_paired_noise(run):
    y = torch.tensor([1, 7, 7])
    sol = I.sample_digits(run.model, y, w=2.0, n_steps=4, method="midpoint", return_solution=True)
    assert sol.nfe == 8 and sol.x.shape == (3, 64)
    euler = I.sample_digits(run.model, y, w=2.0, n_steps=5, method="euler", return_solution=True)
    assert euler.nfe == 5
    # w = 0 ignores the label: the same noise gives the same (unconditional) image for any class
    a = I.sample_digits(run.model, torch.tensor([0, 0]), w=0.0, n_steps=3, seed=5)
    b = I.sample_digits(run.model, torch.tensor([9, 4]), w=0.0, n_steps=3, seed=5)
    assert torch.allclose(a, b, atol=1e-6)
    c = I.sample_digits(run.model, torch.tensor([9, 4]), w=1.0, n_steps=3, seed=5)
    assert not torch.allclose(a, c, atol=1e-3)


def test_run_round_trips_through_fmtutor_io(run, tmp_path):
    from fmtutor import io

    io.save_model(run.model, tmp_path / "d.pt", **run.extra())
    model, extra = io.load_model(tmp_path / "d.pt")
    back = I.DigitRun.from_extra(model, extra)
    assert back.snapshot_steps == run.snapshot_steps and np.allclose(back.losses, run.losses)
    assert torch.equal(back.snapshots, run.snapshots)
    x = torch.randn(4, 64)
    assert torch.allclose(
        model(x, 0.3, torch.tensor([1, 2, 3, 10])), run.model(x, 0.3, torch.tensor([1, 2, 3, 10]))
    )


def test_evaluate_sampler_reports_every_class(run, clf, split):
    r = I.evaluate_sampler(
        run.model, clf, split.x_train, w=1.0, method="euler", n_steps=3, per_class=4
    )
    assert r["nfe"] == 3 and r["per_class"].shape == (10,)
    assert np.isclose(np.nanmean(r["per_class"]), r["accuracy"])


def test_widget_regenerates_a_different_grid_when_the_class_changes(run, clf):
    live = I.digit_explorer(run.model, clf, digit=3, w=1.0, n_steps=4, n=9)
    first, x3 = live.image.value, live.state["x"].clone()
    assert live.last_error is None and "reads" in live.text.value and "NFE = 8" in live.text.value
    live.controls["digit"].value = 8
    assert live.image.value != first and live.state["digit"] == 8
    assert not torch.allclose(live.state["x"], x3, atol=1e-3)
    # at w = 0 the class no longer matters: switching it back regenerates the same grid
    live.controls["w"].value = 0.0
    x_w0 = live.state["x"].clone()
    live.controls["digit"].value = 3
    assert torch.allclose(live.state["x"], x_w0, atol=1e-6)
    live.controls["method"].value = "euler"
    assert "NFE = 4" in live.text.value and live.state["nfe"] == 4


def test_tile_exercise_reference_passes_and_mistakes_get_their_hints():
    assert E.check_tile_images(E.reference_tile_images, verbose=False)

    def todo(x, r, c):
        raise NotImplementedError

    assert E.check_tile_images(todo, verbose=False).status == "todo"
    cases = {
        "cuts the batch into strips": lambda x, r, c: x.reshape(r * 8, c * 8),
        "transposed": lambda x, r, c: (
            x.reshape(r, c, 8, 8).permute(0, 3, 1, 2).reshape(r * 8, c * 8)
        ),
        "run down the columns": lambda x, r, c: (
            x.reshape(c, r, 8, 8).permute(1, 2, 0, 3).reshape(r * 8, c * 8)
        ),
        "wrong axis order": lambda x, r, c: (
            x.reshape(r, c, 8, 8).permute(2, 0, 3, 1).reshape(r * 8, c * 8)
        ),
        "rows and columns are swapped": lambda x, r, c: x.reshape(c * 8, r * 8),
        "forget `return`": lambda x, r, c: None,
    }
    for hint, wrong in cases.items():
        res = E.check_tile_images(wrong, verbose=False)
        assert not res and hint in res.message, (hint, res.message)
