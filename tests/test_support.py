"""fmtutor.support: k-NN precision and recall checked against cases whose answers are known.

Truths: identical sets score (1, 1); a set moved far away scores (0, 0); a hand-computed 2-D case
with k = 2 (every ball radius worked out below); samples on one of the two moons only score
precision ~ 1 and recall ~ 1/2; fresh data from fmtutor.data scores near 1 on both and close to
a second fresh draw; swapping the sets swaps the two numbers.
"""

import math

import numpy as np
import pytest
import torch

import fmtutor as fm
from fmtutor.support import K, N, fresh_support, knn_radii2, precision_recall


def test_defaults_are_the_stated_ones():
    assert (K, N) == (5, 2000)


def test_identical_sets_score_one_and_far_sets_zero():
    a = fm.data.two_moons(300, seed=1)
    assert precision_recall(a, a, n=300) == (1.0, 1.0)
    assert precision_recall(a + 100.0, a, n=300) == (0.0, 0.0)


def test_a_hand_computed_case():
    # reference on the x-axis at 0, 1, 3, 7: with k = 2 the squared ball radii are
    # 0: dists (1, 3, 7) -> 3^2; 1: (1, 2, 6) -> 2^2; 3: (2, 3, 4) -> 3^2; 7: (4, 6, 7) -> 6^2
    ref = torch.tensor([[0.0, 0], [1, 0], [3, 0], [7, 0]])
    assert knn_radii2(ref.double(), k=2).tolist() == [9.0, 4.0, 9.0, 36.0]
    # inside: (0, 2.5) (2.5 <= 3 from 0), (7, 5.5) (5.5 <= 6 from 7), (1, 0.5);
    # outside: (20, 0) (13 > 6 from 7) and (0, 5) (5 > 3 from 0, 5.8 > 3 from 3, 8.6 > 6 from 7)
    samples = np.array([[0.0, 2.5], [7, 5.5], [1, 0.5], [20, 0], [0, 5]])
    got = precision_recall(samples, ref, k=2, n=4)  # the first 4 samples: 3 inside
    assert got.precision == 0.75
    assert precision_recall(np.vstack([samples[1:], samples[:1]]), ref, k=2, n=4).precision == 0.5


def _one_moon(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    theta = math.pi * torch.rand(n, generator=g)
    upper = torch.stack([torch.cos(theta), torch.sin(theta)], 1)
    return upper + 0.05 * torch.randn(n, 2, generator=g)


def test_samples_on_one_moon_are_precise_but_recall_half():
    got = precision_recall(_one_moon(N, seed=5), fm.data.two_moons(N, seed=7))
    assert got.precision >= 0.95, got  # on the reference support (fresh data: ~0.99)
    assert abs(got.recall - 0.5) <= 0.05, got  # the lower moon's half is not covered


@pytest.mark.parametrize("name", ["moons", "8gaussians", "checkerboard", "spirals", "pinwheel"])
def test_fresh_data_scores_like_fresh_data(name):
    sampler = fm.data.SAMPLERS[name]
    own = fresh_support(sampler, repeats=1)
    got = precision_recall(sampler(N, seed=11), sampler(N, seed=12))
    # a ball around each point misses a few points of an independent set: near 1, never all
    assert 0.97 <= min(own) and max(own) < 1 and 0.97 <= min(got) and max(got) < 1, (own, got)
    assert abs(got.precision - own.precision) <= 0.02 and abs(got.recall - own.recall) <= 0.02


def test_swapping_the_sets_swaps_precision_and_recall():
    a, b = _one_moon(500, seed=2), fm.data.two_moons(500, seed=3)
    pr, rp = precision_recall(a, b, n=500), precision_recall(b, a, n=500)
    assert (pr.precision, pr.recall) == (rp.recall, rp.precision) and pr.precision != pr.recall


def test_only_the_first_n_points_count_and_float32_or_numpy_give_the_same():
    a, b = fm.data.spirals(400, seed=1), fm.data.spirals(300, seed=2)
    got = precision_recall(a, b, n=300)
    assert got == precision_recall(a[:300], b, n=300)
    assert got == precision_recall(a.double().numpy(), b.numpy().astype(np.float64), n=300)


def test_bad_inputs_are_refused_by_name():
    a = fm.data.two_moons(50, seed=0)
    with pytest.raises(ValueError, match="samples"):
        precision_recall(a[:10], a, n=50)
    with pytest.raises(ValueError, match="reference"):
        precision_recall(a, a[:, :1], n=50)
    with pytest.raises((TypeError, ValueError), match="samples"):
        precision_recall("points", a, n=50)
    with pytest.raises(ValueError, match="k"):
        precision_recall(a, a, k=50, n=50)
    with pytest.raises(TypeError, match="sampler"):
        fresh_support(3)
