"""fmtutor.data: the samplers' laws, seeding and densities; the bundled digits."""

import math

import numpy as np
import pytest
import torch

from fmtutor import data, metrics, support


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


@pytest.mark.parametrize("noise", [0.02, 0.05, 0.1])
def test_two_moons_noise_is_the_rms_distance_to_the_arcs(noise):
    """The noise level is the root mean square distance to the noiseless arcs (default 0.05)."""
    x = data.two_moons(20_000, noise=noise, seed=3)
    rms = data.moons_distance(x).pow(2).mean().sqrt().item()
    assert abs(rms / noise - 1) < 0.03
    default = data.moons_distance(data.two_moons(20_000, seed=3)).pow(2).mean().sqrt().item()
    assert abs(default / 0.05 - 1) < 0.03
    assert data.moons_distance(torch.tensor([[0.0, 1.0], [1.0, -0.5], [0.0, 2.0]])).tolist() == [
        0.0,
        0.0,
        1.0,
    ]


def test_gaussian_mixture_components_have_their_covariance():
    """Each component's samples have covariance std^2 I about its mean (std 0.25 -> 0.0625)."""
    gm = data.eight_gaussians_mixture()
    x, k = gm.sample(40_000, seed=1, return_labels=True)
    r = (x - gm.means[k].to(x.dtype)).double()
    cov = r.T @ r / len(r)
    assert torch.allclose(cov, 0.0625 * torch.eye(2, dtype=torch.float64), atol=0.002)


def _rotate(x: torch.Tensor, angle: float) -> torch.Tensor:
    c, s = math.cos(angle), math.sin(angle)
    return x @ torch.tensor([[c, s], [-s, c]])


def test_pinwheel_lies_on_its_five_curved_arms():
    x = data.pinwheel(4000, seed=0)
    assert x.shape == (4000, 2) and torch.equal(x, data.pinwheel(4000, seed=0))
    rho = x.norm(dim=1)
    assert abs(float(rho.mean()) - 2.0) < 0.05  # 2 |f|, f_1 ~ N(1, 0.3^2), f_2 small

    def off_arm(p: torch.Tensor) -> torch.Tensor:
        # angle from the nearest arm's centre curve phi = 2 pi a / 5 + exp(rho / 2) / 4
        r, a = p.norm(dim=1), torch.atan2(p[:, 1], p[:, 0])
        gap = 2 * math.pi / 5
        return (torch.remainder(a - 0.25 * torch.exp(r / 2) + gap / 2, gap) - gap / 2).abs()

    assert float((off_arm(x) < 0.25).double().mean()) >= 0.9
    between = _rotate(x, math.pi / 5)  # the arms moved into the gaps: a wrong support
    assert float((off_arm(between) < 0.25).double().mean()) < 0.5
    # five-fold symmetry: a fresh set turned by one arm lands on the same support
    y = data.pinwheel(2000, seed=1)
    same = support.precision_recall(_rotate(y, 2 * math.pi / 5), x)
    gaps = support.precision_recall(_rotate(y, math.pi / 5), x)
    assert min(same) >= 0.97 and max(gaps) <= 0.5, (same, gaps)
    assert data.sample("pinwheel", 3, seed=2).shape == (3, 2)
