"""fmtutor.recipes: the default 2-D recipe is train_cfm with DEFAULT_2D, and it learns two moons.

The slow check: W2 to fresh data within 1.5x the noise floor. The floor is what a perfect sampler scores
in the same comparison: fresh i.i.d. sets (``fmtutor.data.two_moons``) against the same reference sets.
bench/RESULTS.md measures the recipe at 2,000 points against the deck's.
"""

import numpy as np
import pytest
import torch

import fmtutor as fm

N = 1000


def test_train_2d_is_train_cfm_on_its_pool_with_the_default_recipe():
    model, res = fm.recipes.train_2d(
        fm.data.two_moons, seed=3, progress=False, steps=5, batch_size=16, hidden=8
    )
    recipe = fm.recipes.DEFAULT_2D
    assert res.pool.shape == (recipe["pool_size"], 2) and res.steps == 5 and not model.training
    torch.manual_seed(3)
    twin = fm.models.MLP(**{**recipe["model"], "hidden": 8})
    want = fm.training.train_cfm(
        twin, res.pool, seed=3, progress=False, **{**recipe["train"], "steps": 5, "batch_size": 16}
    )
    assert np.array_equal(res.losses, want.losses)
    assert all(
        torch.equal(a, b) for a, b in zip(model.state_dict().values(), twin.state_dict().values())
    )


@pytest.mark.slow
def test_default_recipe_reaches_the_noise_floor_on_two_moons():
    model, res = fm.recipes.train_2d(fm.data.two_moons, seed=0, progress=False)
    assert res.steps == fm.recipes.DEFAULT_2D["train"]["steps"]
    assert np.isfinite(res.losses).all() and res.losses[-200:].mean() < res.losses[:200].mean()
    refs = [fm.data.two_moons(N, seed=800 + r) for r in range(3)]
    w2 = np.mean(
        [
            fm.metrics.wasserstein2(
                fm.training.sample_model(model, N, seed=900 + r, n_steps=50), ref
            )
            for r, ref in enumerate(refs)
        ]
    )
    floor = np.mean(
        [
            fm.metrics.wasserstein2(fm.data.two_moons(N, seed=1000 + k), refs[k % 3])
            for k in range(6)
        ]
    )
    assert w2 <= 1.5 * floor, (
        f"W2 {w2:.4f} is {w2 / floor:.2f} x the noise floor {floor:.4f} (want <= 1.5)"
    )
    untrained = fm.models.MLP(**fm.recipes.DEFAULT_2D["model"]).eval()
    w2_0 = fm.metrics.wasserstein2(
        fm.training.sample_model(untrained, N, seed=900, n_steps=50), refs[0]
    )
    assert w2_0 > 3 * floor, (
        "an untrained network should be far from the data (the check must be able to fail)"
    )


def test_train_2d_takes_scikit_learns_float64_numpy_moons_as_the_float32_pool():
    """The deck's data: make_moons returns float64 NumPy; the pool is converted once, to float32."""
    from sklearn.datasets import make_moons

    def sk_moons(n, seed):
        return make_moons(n, noise=0.05, random_state=seed)[0]

    kw = dict(seed=1, progress=False, steps=4, batch_size=16, hidden=8)
    model, res = fm.recipes.train_2d(sk_moons, **kw)
    assert isinstance(res.pool, torch.Tensor) and res.pool.dtype == torch.float32
    assert np.isfinite(res.losses).all() and next(model.parameters()).dtype == torch.float32
    want = fm.recipes.train_2d(lambda n, seed: torch.tensor(sk_moons(n, seed)).float(), **kw)[1]
    assert torch.equal(res.pool, want.pool) and np.array_equal(res.losses, want.losses)


@pytest.mark.slow
def test_the_decks_pipeline_on_scikit_learns_make_moons_reaches_the_floor():
    """The deck's data as a student passes it (make_moons: float64 NumPy) through train_2d, sampled
    with the midpoint rule: W2 to fresh data within 1.5x the i.i.d. noise floor (as the default recipe
    on fmtutor.data.two_moons, test above)."""
    from sklearn.datasets import make_moons

    def sampler(n, seed=None):
        return make_moons(n, noise=0.05, random_state=seed)[
            0
        ]  # float64 NumPy, as scikit-learn gives

    model, _ = fm.recipes.train_2d(sampler, seed=0, progress=False)
    x = fm.training.sample_model(model, 2000, seed=1, n_steps=50)
    assert x.dtype == torch.float32 and torch.isfinite(x).all()
    test = fm.data.two_moons(2000, seed=2024)
    floor = fm.metrics.noise_floor(fm.data.two_moons, 2000)
    w2 = fm.metrics.wasserstein2(x, test)
    assert w2 < 1.5 * floor, (w2, floor)
