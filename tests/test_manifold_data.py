"""fmtutor.manifold_data: exact vMF draws (mean resultant length, the law of the cosine), mixtures."""

import math

import pytest
import torch
from scipy import stats

from fmtutor import manifold_data as D


@pytest.mark.parametrize("kappa", [0.5, 4.0, 30.0])
def test_vmf_mean_resultant_length_is_a3(kappa):
    mu = torch.tensor([1.0, 2.0, 2.0]) / 3
    x = D.sample_vmf(mu, kappa, 40000, seed=1)
    assert (x.norm(dim=-1) - 1).abs().max() < 1e-12
    a3 = 1 / math.tanh(kappa) - 1 / kappa
    assert D.vmf_mean_resultant_length(kappa) == pytest.approx(a3)
    w = x @ mu.double()
    assert abs(float(w.mean()) - a3) < 4 * float(w.std()) / 200, "E<x, mu> = coth k - 1/k"
    # the cosine w has density prop. to exp(kappa w) on [-1, 1]: its CDF in closed form
    cdf = lambda v: (
        (torch.exp(kappa * torch.as_tensor(v)) - math.exp(-kappa)) / (2 * math.sinh(kappa))
    )  # noqa: E731
    assert stats.kstest(w[:5000].numpy(), lambda v: cdf(v).numpy()).pvalue > 1e-3
    # the tangent part is isotropic around mu: its mean is 0
    assert (x - w[:, None] * mu.double()).mean(0).abs().max() < 0.02


def test_vmf_is_seeded_and_checks_its_arguments():
    mu = torch.tensor([0.0, 0.0, 1.0])
    assert torch.equal(D.sample_vmf(mu, 5.0, 10, seed=3), D.sample_vmf(mu, 5.0, 10, seed=3))
    with pytest.raises(ValueError, match="kappa"):
        D.sample_vmf(mu, 0.0, 10)
    with pytest.raises(ValueError, match="mu"):
        D.sample_vmf(2 * mu, 1.0, 10)


def test_mixtures_sample_their_components_in_proportion():
    vm = D.VMFMixture([[0, 0, 1.0], [1.0, 0, 0]], [50.0, 50.0], [0.25, 0.75])
    x = vm.sample(8000, seed=0)
    frac = float((x[:, 2] > x[:, 0]).double().mean())
    assert abs(frac - 0.25) < 0.02 and x.dtype == torch.float32
    assert torch.equal(vm.sample(50, seed=1), vm.sample(50, seed=1))
    wn = D.WrappedNormalMixture([[0.1, 6.2]], 0.2)
    a = wn.sample(4000, seed=0).double()
    assert a.min() >= 0 and a.max() < 2 * math.pi
    # wrapped around the mean: the circular mean is the mean, E cos(a - m) = exp(-std^2 / 2)
    m = torch.tensor([0.1, 6.2], dtype=torch.float64)
    assert torch.allclose(
        torch.cos(a - m).mean(0), torch.full((2,), math.exp(-0.02), dtype=torch.float64), atol=0.01
    )
    with pytest.raises(ValueError, match="stds"):
        D.WrappedNormalMixture([[0.0, 0.0]], -1.0)
