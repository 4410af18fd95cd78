"""fmtutor.guidance: the formula's identities, the exact conditional field, the metrics and the trade-off."""

import math

import pytest
import torch

from fmtutor import guidance as G
from fmtutor import paths
from fmtutor.data import GaussianMixture, make_generator
from fmtutor.exact import marginal_log_prob, marginal_score, marginal_velocity
from fmtutor.models import MLP

ANG = torch.tensor([90.0, 210.0, 330.0]) * math.pi / 180
GM = GaussianMixture(
    torch.stack([ANG.cos(), ANG.sin()], 1), 0.6
)  # the chapter's three overlapping classes


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _x(n=32, seed=0):
    return 1.5 * torch.randn(n, 2, generator=make_generator(seed), dtype=torch.float64)


def test_cfg_formula_identities():
    g = make_generator(1)
    uc, uu = torch.randn(6, 2, generator=g), torch.randn(6, 2, generator=g)
    assert torch.equal(G.cfg_velocity(uc, uu, 0.0), uu)
    assert torch.allclose(G.cfg_velocity(uc, uu, 1.0), uc)
    assert torch.allclose(G.cfg_velocity(uc, uu, 3.0), 3 * uc - 2 * uu)
    # affine in w: the midpoint of w = 1 and w = 3 is w = 2
    mid = 0.5 * (G.cfg_velocity(uc, uu, 1.0) + G.cfg_velocity(uc, uu, 3.0))
    assert torch.allclose(mid, G.cfg_velocity(uc, uu, 2.0))
    with pytest.raises(TypeError, match="w"):
        G.cfg_velocity(uc, uu, "2")
    with pytest.raises(ValueError, match="u_cond and u_uncond"):
        G.cfg_velocity(uc, uu[:3], 1.0)


def test_cfg_wrapper_on_a_network():
    torch.manual_seed(0)
    model = MLP(2, hidden=16, depth=2, num_classes=3)
    x, t, y = torch.randn(5, 2), torch.rand(5), torch.tensor([0, 1, 2, 1, 0])
    with torch.no_grad():
        cond, uncond = model(x, t, y), model(x, t, None)
        assert torch.allclose(G.CFGVelocity(model, y, 0.0)(x, t), uncond, atol=1e-6)
        assert torch.allclose(G.CFGVelocity(model, y, 1.0)(x, t), cond, atol=1e-6)
        assert torch.allclose(
            G.CFGVelocity(model, y, 2.5)(x, t), uncond + 2.5 * (cond - uncond), atol=1e-6
        )
        assert torch.allclose(
            G.CFGVelocity(model, 1, 1.0)(x, t), model(x, t, torch.ones(5, dtype=torch.long))
        )
    with pytest.raises(TypeError, match="w"):
        G.CFGVelocity(model, 0, True)


def test_exact_conditional_field_matches_components():
    field = G.ExactConditionalField(GM)
    x = _x()
    comp = GaussianMixture(GM.means[2:3], GM.covs[2:3])
    assert torch.allclose(field(x, 0.4), marginal_velocity(x, 0.4, GM))
    assert torch.allclose(field(x, 0.4, 3), marginal_velocity(x, 0.4, GM))  # label K = "no label"
    assert torch.allclose(field(x, 0.4, 2), marginal_velocity(x, 0.4, comp))
    y = torch.tensor([0, 1, 2, 3] * 8)
    t = torch.linspace(0.1, 0.9, 32, dtype=torch.float64)
    mixed = field(x, t, y)
    for i in (0, 5, 10, 31):
        tgt = (
            GM
            if int(y[i]) == 3
            else GaussianMixture(
                GM.means[int(y[i]) : int(y[i]) + 1], GM.covs[int(y[i]) : int(y[i]) + 1]
            )
        )
        assert torch.allclose(mixed[i], marginal_velocity(x[i : i + 1], t[i : i + 1], tgt)[0])
    with pytest.raises(ValueError, match="y"):
        field(x, 0.4, 7)


@pytest.mark.parametrize("sched", ["condot", "cosine"])
def test_guided_velocity_is_guided_score(sched):
    """score of u_w = (1 - w) grad log p_t + w grad log p_t(.|y) = grad [log p_t + w log p_t(y|.)]."""
    field = G.ExactConditionalField(GM, sched)
    x, t, y, w = _x(20, 2), 0.55, 1, 2.5
    comp = field.components[y]
    u_w = G.cfg_velocity(field(x, t, y), field(x, t), w)
    score_w = paths.convert(u_w, x, t, "velocity", "score", sched)
    s_unc, s_cond = marginal_score(x, t, GM, sched), marginal_score(x, t, comp, sched)
    assert torch.allclose(score_w, (1 - w) * s_unc + w * s_cond, atol=1e-8)
    xg = x.clone().requires_grad_(True)
    log_py_given_x = (
        math.log(1 / 3)
        + marginal_log_prob(xg, t, comp, sched)
        - marginal_log_prob(xg, t, GM, sched)
    )
    grad = torch.autograd.grad(
        (marginal_log_prob(xg, t, GM, sched) + w * log_py_given_x).sum(), xg
    )[0]
    assert torch.allclose(score_w, grad, atol=1e-8)


def test_metrics_on_true_class_samples():
    x, lab = GM.sample(3000, seed=0, return_labels=True)
    m = G.guidance_metrics(x[lab == 0][:500], 0, GM)
    assert (
        0.85 < m["accuracy"] < 0.95
    )  # the Bayes accuracy of these overlapping classes is about 0.89
    assert abs(m["spread"] - 1) < 0.08
    assert m["w2"] < 0.25
    assert (
        abs(m["class_loglik"] - (-math.log(2 * math.pi * 0.36) - 1)) < 0.1
    )  # -E log N = log(2 pi s^2) + 1 in 2-D
    with pytest.raises(ValueError, match="y"):
        G.guidance_metrics(x, 3, GM)


def test_exact_guidance_tradeoff():
    """w = 1 reproduces the class; larger w raises the accuracy and shrinks the spread; w = 0 ignores y."""
    field = G.ExactConditionalField(GM)
    rows = {
        r["w"]: r
        for r in G.guidance_table(field, GM, [0.0, 1.0, 4.0], classes=[0], n=300, n_steps=12)
    }
    assert rows[0.0]["spread"] > 1.3 and rows[0.0]["accuracy"] < 0.5
    assert 0.8 < rows[1.0]["accuracy"] < 0.97 and abs(rows[1.0]["spread"] - 1) < 0.1
    assert rows[4.0]["accuracy"] > 0.99 and rows[4.0]["spread"] < 0.8
    assert rows[1.0]["w2"] < rows[0.0]["w2"] and rows[1.0]["w2"] < rows[4.0]["w2"]
