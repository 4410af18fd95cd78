"""fmtutor.fewstep: reflow pairs, training on pairs, k-step distillation, W2 per NFE."""

import pytest
import torch
from torch import nn

import fmtutor as fm
from fmtutor import fewstep

M, S = torch.tensor([1.0, -2.0], dtype=torch.float64), 0.5  # data N(M, S^2 I)


def _x(n, seed):
    return torch.randn(n, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


class Affine(nn.Module):
    """u(x, t) = A x + b + c t: enough for the flows of the tests."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2).double()

    def forward(self, x, t):
        t = torch.as_tensor(t, dtype=x.dtype)
        t = t.reshape(-1, 1).expand(x.shape[0], 1) if t.ndim else t.expand(x.shape[0], 1)
        return self.lin(torch.cat([x, t], 1))


def test_reflow_pairs_of_the_exact_gaussian_flow_are_its_closed_form_map():
    # the OT flow from N(0, I) to N(M, S^2 I) maps x0 to M + S x0
    exact = fm.exact.MarginalField(fm.data.GaussianMixture(M[None], S))
    x0 = _x(50, 0)
    a, z1 = fewstep.reflow_pairs(exact, x0, n_steps=40, method="rk4")
    assert torch.equal(a, x0) and torch.allclose(z1, M + S * x0, atol=1e-6)


def test_pair_loss_vanishes_for_the_straight_field_of_the_pairs():
    # pairs x1 = M + S x0: on x_t = (1 - t + t S) x0 + t M the velocity M + (S - 1) x0 is exact
    x0 = _x(200, 1)
    x1 = M + S * x0

    def straight(x, t):
        t = torch.as_tensor(t, dtype=x.dtype).reshape(-1, 1)
        return M + (S - 1) * (x - t * M) / (1 - t + t * S)

    t = torch.rand(200, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    assert float(fm.training.cfm_loss(straight, x0, x1, t)) < 1e-20
    assert fm.couplings.flow_straightness(straight, x0, n_steps=20).value == pytest.approx(
        0, abs=1e-9
    )


def test_train_on_pairs_learns_the_straight_field():
    torch.manual_seed(0)
    x0 = _x(512, 3)
    x1 = x0 + torch.tensor([2.0, -1.0], dtype=torch.float64)  # a translation: u = constant
    model = Affine()
    res = fewstep.train_on_pairs(model, x0, x1, steps=800, batch_size=128, lr=1e-1)
    assert res.losses[-20:].mean() < 1e-8 < 1.0 < res.losses[0]
    with torch.no_grad():  # one Euler step is then exact
        assert torch.allclose(fewstep.euler_map(model, x0, 1), x1, atol=1e-4)


def test_distill_loss_k1_is_the_cfm_loss_at_t0():
    net = fm.models.MLP(dim=2, hidden=16, depth=2).double()
    x0, x1 = _x(64, 4), _x(64, 5) + 3
    want = ((net(x0, torch.zeros(64, dtype=torch.float64)) - (x1 - x0)) ** 2).sum(1).mean()
    assert torch.allclose(fewstep.distill_loss(net, x0, x1, 1), want)
    # k = 2: two half steps, by hand
    h = x0 + 0.5 * net(x0, 0.0)
    two = ((h + 0.5 * net(h, 0.5) - x1) ** 2).sum(1).mean()
    assert torch.allclose(fewstep.distill_loss(net, x0, x1, 2), two)


@pytest.mark.parametrize("k", [1, 2])
def test_distill_reaches_the_pairs_in_k_steps(k):
    torch.manual_seed(1)
    x0 = _x(512, 6)
    x1 = M + S * x0  # an affine map: an affine field reaches it in k Euler steps
    model = Affine()
    before = fewstep.distill_loss(model, x0, x1, k).item()
    fewstep.distill(model, x0, x1, n_steps=k, steps=500, batch_size=128, lr=3e-2)
    after = fewstep.distill_loss(model, x0, x1, k).item()
    assert after < 1e-3 * before and after < 1e-3


def test_nfe_w2_of_a_constant_field_is_exact_at_every_nfe():
    x0, shift = _x(100, 7), torch.tensor([3.0, 0.0], dtype=torch.float64)
    tab = fewstep.nfe_w2({"c": lambda x, t: x * 0 + shift}, x0, x0 + shift, nfes=(1, 2, 8))
    assert tab["c"] == pytest.approx([0.0, 0.0, 0.0], abs=1e-6)
    tab = fewstep.nfe_w2({"c": lambda x, t: x * 0 + shift}, x0, x0, nfes=(1,))
    assert tab["c"][0] == pytest.approx(3.0, abs=1e-6)


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="x_0 and x_1"):
        fewstep.train_on_pairs(Affine(), _x(4, 0), _x(5, 0))
    with pytest.raises(TypeError, match="model"):
        fewstep.train_on_pairs(lambda x, t: x, _x(4, 0), _x(4, 0))
    with pytest.raises(TypeError, match="model"):
        fewstep.reflow_pairs(3, _x(4, 0))
    with pytest.raises(TypeError, match="models"):
        fewstep.nfe_w2([], _x(4, 0), _x(4, 0))
    with pytest.raises(ValueError, match="n_steps"):
        fewstep.distill_loss(Affine(), _x(4, 0), _x(4, 0), 0)
