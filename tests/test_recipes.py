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


# ------------------------------------------------------------------ coupling="ot": pairs fixed once

#: sha256 (first 16 hex digits) of train_2d(two_moons, seed=1, steps=40, batch_size=64)'s losses,
#: recorded before the coupling option existed, with the torch version it was recorded under.
DEFAULT_LOSSES_SHA = ("a3c33f89c1369340", "2.13.")


def test_default_coupling_leaves_training_bit_identical():
    import hashlib

    kw = dict(seed=1, progress=False, steps=40, batch_size=64)
    _, res = fm.recipes.train_2d(fm.data.two_moons, **kw)
    _, same = fm.recipes.train_2d(fm.data.two_moons, coupling="independent", **kw)
    assert np.array_equal(res.losses, same.losses)
    sha = hashlib.sha256(res.losses.tobytes()).hexdigest()[:16]
    if not torch.__version__.startswith(DEFAULT_LOSSES_SHA[1]):
        pytest.skip(f"losses recorded under torch {DEFAULT_LOSSES_SHA[1]}x")
    assert sha == DEFAULT_LOSSES_SHA[0]


def test_pool_ot_pairing_is_a_cheaper_permutation_and_exact_on_a_tiny_pool():
    g = fm.data.make_generator(0)
    x0, x1 = torch.randn(1000, 2, generator=g), fm.data.two_moons(1000, seed=1)
    threads = torch.get_num_threads()
    s = fm.recipes.pool_ot_pairing(x0, x1, chunk=128)
    assert torch.get_num_threads() == threads  # its one thread is restored
    assert torch.equal(torch.sort(s).values, torch.arange(1000))  # nothing lost or duplicated
    cost = fm.couplings.transport_cost
    assert cost(x0, x1[s]) <= cost(x0, x1)
    small0, small1 = x0[:7], x1[:7]
    best = fm.couplings.brute_force_assignment(small0, small1)
    tiny = fm.recipes.pool_ot_pairing(small0, small1, chunk=8)
    assert cost(small0, small1[tiny]) == pytest.approx(cost(small0, small1[best]), abs=1e-12)
    assert cost(small0, small1[tiny]) < cost(small0, small1)


def test_ot_coupling_trains_on_fixed_pairs_of_the_pool():
    model, res = fm.recipes.train_2d(
        fm.data.two_moons, seed=2, progress=False, coupling="ot", steps=5, batch_size=16, hidden=8
    )
    assert res.paired_pool.shape == res.pool.shape == res.noise_pool.shape
    rows = lambda x: sorted(map(tuple, x.tolist()))  # noqa: E731
    assert rows(res.paired_pool) == rows(res.pool)  # the pool, permuted
    cost = fm.couplings.transport_cost
    assert cost(res.noise_pool, res.paired_pool) < 0.8 * cost(res.noise_pool, res.pool)
    assert np.isfinite(res.losses).all()
    # every batch trains on rows (noise_pool[i], paired_pool[i]): train_cfm's fixed noise
    # (tests/test_training.py checks it draw for draw), so the run repeats from the pools alone
    torch.manual_seed(2)
    again = fm.training.train_cfm(
        fm.models.MLP(hidden=8),
        res.paired_pool,
        noise=res.noise_pool,
        **{**fm.recipes.DEFAULT_2D["train"], "steps": 5, "batch_size": 16},
        seed=2,
        progress=False,
    )
    assert np.array_equal(again.losses, res.losses)
    # and train_2d trains on them: the first loss (an untrained net, v ~ 0) is about the pairs'
    # cost, well below the independent pairing's at the same seed
    _, ind = fm.recipes.train_2d(
        fm.data.two_moons, seed=2, progress=False, steps=5, batch_size=16, hidden=8
    )
    assert res.losses[0] < 0.6 * ind.losses[0], (res.losses[0], ind.losses[0])
    with pytest.raises(ValueError, match="coupling"):
        fm.recipes.train_2d(fm.data.two_moons, progress=False, coupling="sinkhorn", steps=1)
