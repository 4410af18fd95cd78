"""fmtutor.digits: training with snapshots, guided sampling, saved runs and the sampler's score."""

import numpy as np
import pytest
import torch

from fmtutor import digits as DG
from fmtutor import io

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_a_few_training_steps_decrease_the_loss_and_snapshots_are_paired(digit_run):
    assert digit_run.losses.shape == (150,)
    assert digit_run.losses[-30:].mean() < 0.8 * digit_run.losses[:10].mean()
    assert digit_run.snapshot_steps == [0, 50, 150]
    assert digit_run.snapshots.shape == (3, 10, 64) and torch.equal(
        digit_run.snapshot_labels, torch.arange(10)
    )
    # the last snapshot is exactly what the final model generates from the snapshot noise
    again = DG.sample_digits(digit_run.model, torch.arange(10), 1.0, 10, "midpoint", seed=777)
    assert torch.allclose(again, digit_run.snapshots[-1], atol=1e-5)
    assert not torch.allclose(digit_run.snapshots[0], digit_run.snapshots[-1], atol=1e-2)


def test_sample_digits_nfe_guidance_and_paired_noise(digit_run):
    y = torch.tensor([1, 7, 7])
    sol = DG.sample_digits(
        digit_run.model, y, w=2.0, n_steps=4, method="midpoint", return_solution=True
    )
    assert sol.nfe == 8 and sol.x.shape == (3, 64)
    euler = DG.sample_digits(
        digit_run.model, y, w=2.0, n_steps=5, method="euler", return_solution=True
    )
    assert euler.nfe == 5
    # w = 0 ignores the label: the same noise gives the same (unconditional) image for any class
    a = DG.sample_digits(digit_run.model, torch.tensor([0, 0]), w=0.0, n_steps=3, seed=5)
    b = DG.sample_digits(digit_run.model, torch.tensor([9, 4]), w=0.0, n_steps=3, seed=5)
    assert torch.allclose(a, b, atol=1e-6)
    c = DG.sample_digits(digit_run.model, torch.tensor([9, 4]), w=1.0, n_steps=3, seed=5)
    assert not torch.allclose(a, c, atol=1e-3)


def test_run_round_trips_through_fmtutor_io(digit_run, tmp_path):
    io.save_model(digit_run.model, tmp_path / "d.pt", **digit_run.extra())
    model, extra = io.load_model(tmp_path / "d.pt")
    back = DG.DigitRun.from_extra(model, extra)
    assert back.snapshot_steps == digit_run.snapshot_steps and np.allclose(
        back.losses, digit_run.losses
    )
    assert torch.equal(back.snapshots, digit_run.snapshots)
    x = torch.randn(4, 64)
    assert torch.allclose(
        model(x, 0.3, torch.tensor([1, 2, 3, 10])),
        digit_run.model(x, 0.3, torch.tensor([1, 2, 3, 10])),
    )


def test_evaluate_sampler_reports_every_class(digit_run, digit_classifier, digit_split):
    r = DG.evaluate_sampler(
        digit_run.model,
        digit_classifier,
        digit_split.x_train,
        w=1.0,
        method="euler",
        n_steps=3,
        per_class=4,
    )
    assert r["nfe"] == 3 and r["per_class"].shape == (10,)
    assert np.isclose(np.nanmean(r["per_class"]), r["accuracy"])
