"""The course's default 2-D recipe learns two moons: W2 to fresh data within 1.5x the noise floor.

The floor is what a perfect sampler scores in the same comparison: fresh i.i.d. sets (``fmtutor.data.two_moons``)
against the same reference sets. bench/RESULTS.md measures the recipe at 2,000 points against the deck's.
"""

import numpy as np
import pytest
import torch

import fmtutor as F

N = 1000


@pytest.mark.slow
def test_default_recipe_reaches_the_noise_floor_on_two_moons():
    model, res = F.training.train_2d(F.data.two_moons, seed=0, progress=False)
    assert res.steps == F.training.DEFAULT_2D["train"]["steps"]
    assert np.isfinite(res.losses).all() and res.losses[-200:].mean() < res.losses[:200].mean()
    refs = [F.data.two_moons(N, seed=800 + r) for r in range(3)]
    w2 = np.mean(
        [
            F.metrics.wasserstein2(F.training.sample_model(model, N, seed=900 + r, n_steps=50), ref)
            for r, ref in enumerate(refs)
        ]
    )
    floor = np.mean(
        [F.metrics.wasserstein2(F.data.two_moons(N, seed=1000 + k), refs[k % 3]) for k in range(6)]
    )
    assert w2 <= 1.5 * floor, (
        f"W2 {w2:.4f} is {w2 / floor:.2f} x the noise floor {floor:.4f} (want <= 1.5)"
    )
    untrained = F.models.MLP(**F.training.DEFAULT_2D["model"]).eval()
    w2_0 = F.metrics.wasserstein2(
        F.training.sample_model(untrained, N, seed=900, n_steps=50), refs[0]
    )
    assert w2_0 > 3 * floor, (
        "an untrained network should be far from the data (the check must be able to fail)"
    )


class _Recorder(torch.nn.Module):
    """A velocity 'model' that records the times it is trained at."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.times: list[torch.Tensor] = []

    def forward(self, x, t):
        self.times.append(t.detach().reshape(-1).clone())
        return x * self.w


@pytest.mark.parametrize("mode", ["uniform", "stratified"])
def test_time_sampling_draws_one_time_per_slice_when_stratified(mode):
    rec, b = _Recorder(), 64
    F.training.train_cfm(
        rec,
        F.data.two_moons(256, seed=0),
        steps=3,
        batch_size=b,
        seed=0,
        progress=False,
        time_sampling=mode,
        device="cpu",
    )
    for t in rec.times:
        assert t.shape == (b,) and bool(((t >= 0) & (t <= 1)).all())
        slices = torch.floor(t * b).long()
        if mode == "stratified":
            assert torch.equal(slices, torch.arange(b)), "sample i must draw t in [i/B, (i+1)/B)"
        else:
            assert len(set(slices.tolist())) < b, (
                "uniform times should leave some slices empty (64 draws)"
            )


def test_time_sampling_rejects_unknown_modes():
    with pytest.raises(ValueError, match="time_sampling"):
        F.training.train_cfm(
            _Recorder(),
            F.data.two_moons(16, seed=0),
            steps=1,
            time_sampling="sorted",
            progress=False,
        )


def test_training_restores_the_thread_count_and_keeps_per_step_losses():
    before = torch.get_num_threads()
    res = F.training.train_cfm(
        F.models.MLP(hidden=8, depth=1),
        F.data.two_moons(64, seed=0),
        steps=5,
        batch_size=8,
        progress=False,
        device="cpu",
        num_threads=1,
    )
    assert torch.get_num_threads() == before
    assert res.losses.shape == (5,) and np.isfinite(res.losses).all()
    assert (
        res.lrs[0] == pytest.approx(3e-3) and res.lrs[-1] < res.lrs[0]
    )  # train_cfm's own default lr, cosine decay
