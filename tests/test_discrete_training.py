"""fmtutor.discrete_training: the cross-entropy loss, a trained posterior, the discrete scores."""

import math

import pytest
import torch

from fmtutor import discrete as D
from fmtutor import discrete_training as DT


def _target(v=4, seed=1):
    g = torch.Generator().manual_seed(seed)
    q = torch.rand(v, v, generator=g, dtype=torch.float64) ** 3
    return q / q.sum()


def test_posterior_loss_is_the_summed_cross_entropy():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 3, 5, generator=g)
    x1 = torch.randint(0, 5, (6, 3), generator=g)
    got = DT.posterior_loss(lambda x, t: logits, x1, 0.5, x1)
    want = 3 * torch.nn.functional.cross_entropy(logits.reshape(-1, 5), x1.reshape(-1))
    assert torch.allclose(got, want)
    with pytest.raises(ValueError, match="x_1"):
        DT.posterior_loss(lambda x, t: logits, x1, 0.5, x1[:, :2])


@pytest.mark.parametrize("source", ["mask", "uniform"])
def test_training_recovers_the_exact_posterior(source):
    q, path = _target(), D.MixturePath(4, source)
    model = DT.TokenPosteriorNet(4, path.n_states, 2, hidden=32, depth=2)
    res = DT.train_posterior(model, path, q, steps=400, batch_size=256, lr=1e-2, seed=0)
    assert res.losses[-50:].mean() < res.losses[:50].mean()
    ex = D.ExactPosterior(q, path)
    x = D.all_states(path.n_states, 2)
    for t in (0.2, 0.6, 0.9):
        p_t = ex.marginal(t).reshape(-1)
        err = (model.posterior(x, t) - ex.posterior(x, t)).abs().sum(-1).amax(-1)  # (N,)
        assert float((p_t * err).sum()) < 0.1, (t, float((p_t * err).sum()))
    law = D.euler_law(
        lambda y, t: path.posterior_velocity(model.posterior(y, t), y, t), ex.marginal(0.0), 50
    )
    pad = (0, path.n_states - 4) * 2
    assert DT.total_variation(law, torch.nn.functional.pad(q, pad)) < 0.05


def test_scores_closed_forms():
    p = torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64)
    r = torch.tensor([0.25, 0.25, 0.5], dtype=torch.float64)
    assert DT.total_variation(p, r) == pytest.approx(0.5)
    assert DT.kl_divergence(p, r) == pytest.approx(math.log(2))
    assert DT.kl_divergence(r, p) == math.inf
    x = torch.tensor([[0, 1], [0, 1], [2, 2], [1, 0]])
    emp = DT.empirical_law(x, 3)
    assert emp[0, 1] == 0.5 and emp[2, 2] == 0.25 and emp[1, 0] == 0.25 and emp.sum() == 1
    with pytest.raises(ValueError, match="q"):
        DT.total_variation(p, r[:2])


def test_sample_law_and_noise_floor():
    q = _target(6, seed=2)
    x = DT.sample_law(q, 60000, seed=0)
    assert DT.total_variation(DT.empirical_law(x, 6), q) < 0.03
    n = 2000  # E|p_hat - q| ~ sqrt(2 q (1 - q) / (pi n)) per cell for large n
    approx = 0.5 * float(torch.sqrt(2 * q * (1 - q) / (math.pi * n)).sum())
    assert DT.tv_noise_floor(q, n, repeats=40) == pytest.approx(approx, rel=0.1)


def test_network_checks_its_tokens():
    model = DT.TokenPosteriorNet(4, 5, 2, hidden=8, depth=1)
    assert model(torch.tensor([[4, 0]]), 0.3).shape == (1, 2, 4)
    with pytest.raises(ValueError, match="x"):
        model(torch.tensor([[5, 0]]), 0.3)
    with pytest.raises(ValueError, match="x"):
        model(torch.zeros(1, 2), 0.3)
    with pytest.raises(ValueError, match="t"):
        model(torch.tensor([[4, 0]]), 1.5)
