"""Metrics against closed forms; data samplers' seeding and densities; the MLP's time and label inputs."""

import itertools

import numpy as np
import pytest
import torch

from fmtutor import data, metrics, models


def test_w2_between_gaussians_matches_closed_form():
    g = torch.Generator().manual_seed(0)
    m1, m2 = np.array([0.0, 0.0]), np.array([1.0, -0.5])
    s1, s2 = np.array([[1.0, 0.3], [0.3, 0.5]]), np.array([[0.6, -0.2], [-0.2, 1.2]])
    a = torch.randn(2000, 2, generator=g, dtype=torch.float64) @ torch.tensor(
        np.linalg.cholesky(s1)
    ).T + torch.tensor(m1)
    b = torch.randn(2000, 2, generator=g, dtype=torch.float64) @ torch.tensor(
        np.linalg.cholesky(s2)
    ).T + torch.tensor(m2)
    want = metrics.gaussian_w2(m1, s1, m2, s2)
    got = metrics.wasserstein2(a, b)
    floor = metrics.wasserstein2(
        a,
        torch.randn(2000, 2, generator=g, dtype=torch.float64)
        @ torch.tensor(np.linalg.cholesky(s1)).T,
    )
    assert abs(got - want) < 2 * floor + 0.02, (
        got,
        want,
        floor,
    )  # sampling error is of the order of the floor


def test_exact_w2_is_the_best_matching():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(6, 2, generator=g), torch.randn(6, 2, generator=g)
    brute = min(((a - b[list(p)]) ** 2).sum(1).mean() for p in itertools.permutations(range(6)))
    assert abs(metrics.wasserstein2(a, b) - float(brute) ** 0.5) < 1e-6


def test_sliced_w2_of_a_shift_is_exact():
    """Shifting a set by v: each 1-D projection moves by <theta, v>, so SW2^2 = E<theta, v>^2 = |v|^2 / d."""
    a = torch.randn(500, 2)
    v = torch.tensor([3.0, 0.0])
    sw = metrics.sliced_wasserstein2(a, a + v, n_projections=20000)
    assert abs(sw - 3.0 / 2**0.5) < 0.05


def test_mmd_separates_and_is_near_zero_for_same_distribution():
    g = torch.Generator().manual_seed(2)
    a, b, c = (torch.randn(400, 2, generator=g) for _ in range(3))
    assert abs(metrics.mmd(a, b)) < 0.01
    assert metrics.mmd(a, c + 1.0) > 0.1


def test_noise_floor_is_reproducible_and_positive():
    f1 = metrics.noise_floor(data.two_moons, 300)
    assert f1 == metrics.noise_floor(data.two_moons, 300) and f1 > 0


def test_two_moons_has_make_moons_law_but_iid_points():
    """Same law as scikit-learn's make_moons (noiseless points on the two half circles, noise of std 0.05,
    W2 to make_moons at the i.i.d. noise floor), but i.i.d.: moon sizes vary like Binomial(n, 1/2), so two
    sets are *not* as close as two stratified make_moons sets (exactly n/2 per moon, evenly spaced angles)."""
    from sklearn.datasets import make_moons

    def on_moons(x: torch.Tensor) -> "tuple[torch.Tensor, torch.Tensor]":
        x = x.double()
        upper = ((x[:, 0] ** 2 + x[:, 1] ** 2 - 1).abs() < 1e-5) & (x[:, 1] >= -1e-6)
        lower = (((x[:, 0] - 1) ** 2 + (x[:, 1] - 0.5) ** 2 - 1).abs() < 1e-5) & (
            x[:, 1] <= 0.5 + 1e-6
        )
        return upper, lower

    upper, lower = on_moons(data.two_moons(20000, noise=0.0, seed=0))
    assert bool((upper | lower).all()), "every noiseless point lies on one of the two half circles"
    sizes = [int(on_moons(data.two_moons(1000, noise=0.0, seed=s))[1].sum()) for s in range(30)]
    assert 7 < np.std(sizes) < 30 and abs(np.mean(sizes) - 500) < 10, (
        "lower-moon sizes ~ Binomial(1000, 1/2): std 15.8"
    )
    noise = data.two_moons(20000, seed=1) - data.two_moons(
        20000, noise=0.0, seed=1
    )  # same seed: same angles and moons
    assert abs(float(noise.std()) - 0.05) < 0.002
    moons = lambda n, seed: torch.as_tensor(
        make_moons(n, noise=0.05, random_state=seed)[0], dtype=torch.float32
    )
    iid_floor = metrics.noise_floor(data.two_moons, 2000, repeats=2)
    assert metrics.wasserstein2(data.two_moons(2000, seed=3), moons(2000, 0)) < 1.5 * iid_floor, (
        "the same law"
    )
    assert metrics.wasserstein2(moons(2000, 0), moons(2000, 1)) < 0.75 * iid_floor, (
        "stratified sets sit closer"
    )


@pytest.mark.parametrize("name", sorted(data.SAMPLERS))
def test_samplers_are_seeded(name):
    a, b, c = (
        data.sample(name, 100, seed=0),
        data.sample(name, 100, seed=0),
        data.sample(name, 100, seed=1),
    )
    assert (
        torch.equal(a, b)
        and not torch.equal(a, c)
        and a.shape == (100, 2)
        and a.dtype == torch.float32
    )


def test_checkerboard_lies_on_dark_squares():
    x = data.checkerboard(2000, seed=0)
    assert ((torch.floor(x[:, 0]) + torch.floor(x[:, 1])) % 2 == 0).all()
    assert (x.abs() <= 2).all()


def test_gaussian_mixture_density_integrates_to_one_and_matches_samples():
    gm = data.eight_gaussians_mixture()
    xs = torch.linspace(-5, 5, 301, dtype=torch.float64)
    gx, gy = torch.meshgrid(xs, xs, indexing="ij")
    p = (
        gm.log_prob(torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)).exp().sum()
        * (xs[1] - xs[0]) ** 2
    )
    assert abs(float(p) - 1) < 1e-3
    x, k = gm.sample(4000, seed=0, return_labels=True)
    assert torch.allclose(x.mean(0), torch.zeros(2), atol=0.15)
    assert ((x - gm.means[k].float()).norm(dim=1) < 1.5).all()  # 6 std at most


def test_digits_are_offline_and_scaled():
    x, y = data.load_digits()
    assert x.shape == (1797, 64) and y.shape == (1797,)
    assert float(x.min()) == -1.0 and float(x.max()) == 1.0 and set(y.tolist()) == set(range(10))


def test_mlp_accepts_t_as_float_vector_or_column():
    torch.manual_seed(0)
    m = models.MLP(n_frequencies=3)
    x = torch.randn(5, 2)
    a, b, c = m(x, 0.3), m(x, torch.full((5,), 0.3)), m(x, torch.full((5, 1), 0.3))
    assert torch.allclose(a, b) and torch.allclose(b, c)
    assert not torch.allclose(m(x, 0.3), m(x, 0.7))


def test_mlp_labels_and_null_label():
    torch.manual_seed(0)
    m = models.MLP(num_classes=3)
    x = torch.randn(4, 2)
    assert torch.allclose(m(x, 0.5), m(x, 0.5, torch.full((4,), 3)))  # None means the null label
    assert not torch.allclose(
        m(x, 0.5, torch.zeros(4, dtype=torch.long)), m(x, 0.5, torch.ones(4, dtype=torch.long))
    )
    with pytest.raises(ValueError, match="y: expected labels in 0..2"):
        m(x, 0.5, torch.full((4,), 7))


def test_mlp_errors():
    m = models.MLP()
    with pytest.raises(ValueError, match="x: expected shape \\(B, 2\\)"):
        m(torch.zeros(3, 3), 0.5)
    with pytest.raises(ValueError, match="t: expected times in \\[0, 1\\]"):
        m(torch.zeros(3, 2), 2.0)
    with pytest.raises(ValueError, match="t: expected 3 times"):
        m(torch.zeros(3, 2), torch.zeros(4))
    with pytest.raises(TypeError, match="x: expected a torch.Tensor"):
        m(np.zeros((3, 2)), 0.5)
    with pytest.raises(ValueError, match="activation: expected one of"):
        models.MLP(activation="swishy")
    with pytest.raises(ValueError, match="y: this model was built without num_classes"):
        m(torch.zeros(3, 2), 0.5, torch.zeros(3, dtype=torch.long))
