"""fmtutor.course.ch08: the likelihood widget and the divergence and Hutchinson exercises."""

import pytest
import torch

import fmtutor as fm
from fmtutor.course import ch08


def test_likelihood_widget_recomputes():
    gm = fm.data.eight_gaussians_mixture()
    x = gm.sample(20, seed=5).double()
    live = ch08.likelihood_widget(gm, x, n_steps=2)
    e2 = live.stats["mean_abs"]
    live.controls["n_steps"].value = 8
    assert live.stats["n_steps"] == 8 and live.stats["nfe"] == 16
    want = (
        (fm.likelihood.log_likelihood(fm.exact.MarginalField(gm), x, n_steps=8) - gm.log_prob(x))
        .abs()
        .mean()
    )
    assert live.stats["mean_abs"] == pytest.approx(float(want)) and live.stats["mean_abs"] < e2 / 4
    live.controls["estimator"].value = "4 probes"
    assert live.stats["estimator"] == "4 probes" and live.stats["mean_abs"] > live.stats["bias"]
    assert live.last_error is None and "4 probes" in live.text.value
    with pytest.raises(TypeError, match="target"):
        ch08.likelihood_widget(x, x)


def test_exercise_divergence():
    assert ch08.check_divergence(ch08.reference_divergence, verbose=False)

    def student(field, x, t):  # a correct student answer written the usual way
        x = x.clone().requires_grad_(True)
        u = field(x, t)
        return sum(
            torch.autograd.grad(u[:, i].sum(), x, retain_graph=True)[0][:, i] for i in range(2)
        )

    assert ch08.check_divergence(student, verbose=False)
    jac = fm.likelihood.jacobian
    for key, wrong in {
        "every entry": lambda f, x, t: jac(f, x, t).sum((1, 2)),
        "only du_1/dx_1": lambda f, x, t: jac(f, x, t)[:, 0, 0],
        "only du_2/dx_2": lambda f, x, t: jac(f, x, t)[:, 1, 1],
        "off-diagonal": lambda f, x, t: jac(f, x, t)[:, 0, 1] + jac(f, x, t)[:, 1, 0],
        "sign is flipped": lambda f, x, t: -jac(f, x, t).diagonal(dim1=1, dim2=2).sum(1),
    }.items():
        res = ch08.check_divergence(wrong, verbose=False)
        assert not res and key in res.message, (key, res.message)


def test_exercise_hutchinson():
    assert ch08.check_hutchinson(ch08.reference_hutchinson, verbose=False)

    def student(field, x, t, z):
        x = x.clone().requires_grad_(True)
        (vjp,) = torch.autograd.grad((field(x, t) * z).sum(), x)
        return (vjp * z).sum(1)

    assert ch08.check_hutchinson(student, verbose=False)
    for key, wrong in {
        "z . u(x)": lambda f, x, t, z: (f(x, t) * z).sum(1),
        "without the second z": lambda f, x, t, z: torch.einsum(
            "bi,bij->b", z, fm.likelihood.jacobian(f, x, t)
        ),
        "exact divergence": lambda f, x, t, z: (
            fm.likelihood.jacobian(f, x, t).diagonal(dim1=1, dim2=2).sum(1)
        ),
    }.items():
        res = ch08.check_hutchinson(wrong, verbose=False)
        assert not res and key in res.message, (key, res.message)


def test_references_agree_with_the_package():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 2, generator=g, dtype=torch.float64)
    z = torch.randn(5, 2, generator=g, dtype=torch.float64)
    field = fm.exact.MarginalField(fm.data.eight_gaussians_mixture())
    t = torch.full((5, 1), 0.4, dtype=torch.float64)
    assert torch.allclose(
        ch08.reference_divergence(field, x, t), fm.likelihood.divergence_exact(field, x, t)
    )
    assert torch.allclose(
        ch08.reference_hutchinson(field, x, t, z),
        fm.likelihood.divergence_hutchinson(field, x, t, z=z[None]),
    )
