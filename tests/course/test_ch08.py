"""fmtutor.course.ch08: the likelihood widget and the divergence and Hutchinson exercises."""

import sys

import numpy as np
import pytest
import torch

import fmtutor as fm
from fmtutor.course import ch08, plots

_live = sys.modules["fmtutor_tests_live"]  # tests/_live.py, loaded by conftest.py
_pixels, _fresh_picture = _live.pixels, _live.fresh_picture


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


def test_likelihood_widget_draws_log_likelihood_at_each_setting():
    gm = fm.data.eight_gaussians_mixture()
    x = gm.sample(30, seed=7).double()
    field = fm.exact.MarginalField(gm)
    live = ch08.likelihood_widget(gm, x, n_steps=4, seed=3)
    for n_steps, estimator in [(4, "16 probes"), (16, "16 probes"), (16, "exact"), (1, "1 probe")]:
        live.controls["n_steps"].value = n_steps
        live.controls["estimator"].value = estimator
        kw = {}
        if estimator != "exact":
            kw = dict(estimator="hutchinson", n_probes=int(estimator.split()[0]), seed=3)
        want = fm.likelihood.log_likelihood(field, x, n_steps=n_steps, method="midpoint", **kw)
        assert torch.allclose(live.stats["log_p1"], want, rtol=0, atol=1e-9), (n_steps, estimator)
        err = (want - gm.log_prob(x)).abs()
        assert live.stats["mean_abs"] == pytest.approx(float(err.mean()))
        assert live.stats["max_abs"] == pytest.approx(float(err.max()))
        drawn = (
            live.fig.axes[0].collections[0].get_offsets()[:, 1]
        )  # computed log p_1 of each point
        assert np.allclose(drawn, want.numpy())
        assert live.stats["nfe"] == 2 * n_steps and live.last_error is None


def test_integrated_jacobian_is_the_backward_solve_with_the_whole_jacobian():
    a = torch.tensor([[0.5, 2.0], [-1.0, -1.5]], dtype=torch.float64)
    x = torch.randn(5, 2, generator=fm.data.make_generator(0), dtype=torch.float64)
    x_0, m, nfe = ch08.integrated_jacobian(lambda y, t: y @ a.T, x, n_steps=32, method="rk4")
    assert torch.allclose(m, -a.expand(5, 2, 2))  # M = int_1^0 A dt = -A
    assert torch.allclose(x_0, x @ torch.linalg.matrix_exp(-a).T, atol=1e-9)  # x_0 = e^{-A} x
    assert nfe == 4 * 32
    field = fm.exact.MarginalField(fm.data.eight_gaussians_mixture())
    x = fm.data.eight_gaussians_mixture().sample(8, seed=1).double()
    x_0, m, _ = ch08.integrated_jacobian(field, x, n_steps=6, method="heun")
    want = fm.likelihood.log_likelihood(field, x, n_steps=6, method="heun", details=True)
    assert torch.allclose(x_0, want.x_0) and torch.allclose(
        m.diagonal(dim1=1, dim2=2).sum(1), want.delta
    )


def test_divergence_maps_share_one_scale_and_are_the_divergence():
    from matplotlib.figure import Figure

    fig = Figure(layout="constrained")
    axes = fig.subplots(1, 2)
    field = fm.exact.MarginalField(fm.data.eight_gaussians_mixture())
    div = ch08.divergence_maps(field, [0.3, 0.9], axes, lim=(-4.0, 4.0), n=12, n_arrows=5)
    grid = plots.grid_points((-4.0, 4.0), n=12).double()
    for d, t, ax in zip(div, [0.3, 0.9], axes):
        assert np.allclose(
            d, fm.likelihood.divergence_exact(field, grid, t).reshape(12, 12).numpy()
        )
        image = ax.images[0]
        assert np.allclose(image.get_array(), d)
        top = np.abs(div).max()
        assert image.norm.vmin == pytest.approx(-top) and image.norm.vmax == pytest.approx(top)
    assert axes[0].images[0].norm is axes[1].images[0].norm  # one scale for both panels
    assert len(fig.axes) == 3  # the two maps and one colour bar
    with pytest.raises(ValueError, match="axes"):
        ch08.divergence_maps(field, [0.3, 0.9], axes[:1])


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


def test_likelihood_widget_steps_slider_recomputes_across_a_sweep_and_back():
    """Dragging the steps slider up, a jump from 32 steps to 1 and back to a value seen before (and
    an estimator switched on and off): both panels draw a new log_likelihood at that setting (the computed
    log p_1 per point, the sorted errors), and the picture shown is the one they make."""
    gm = fm.data.eight_gaussians_mixture()
    x = gm.sample(25, seed=11).double()
    field, truth = fm.exact.MarginalField(gm), gm.log_prob(x).double()
    live = ch08.likelihood_widget(gm, x, n_steps=8, seed=2)
    shown = _pixels(live.image.value)
    sweep = [(16, "exact"), (32, "exact"), (1, "4 probes"), (16, "4 probes"), (16, "exact")]
    for n_steps, estimator in sweep:
        live.controls["n_steps"].value = n_steps
        live.controls["estimator"].value = estimator
        assert live.last_error is None, live.last_error
        kw = {} if estimator == "exact" else dict(estimator="hutchinson", n_probes=4, seed=2)
        want = fm.likelihood.log_likelihood(field, x, n_steps=n_steps, method="midpoint", **kw)
        ax0, ax1 = live.fig.axes
        assert np.allclose(ax0.collections[0].get_offsets()[:, 1], want.numpy(), atol=1e-9)
        (errors,) = [ln for ln in ax1.lines if ln.get_color() == "#E69F00"]
        assert np.allclose(errors.get_xdata(), np.sort((want - truth).abs().numpy()).clip(1e-9))
        now = _pixels(live.image.value)
        assert not np.array_equal(now, shown), f"{n_steps}, {estimator}: no new picture"
        assert np.array_equal(now, _fresh_picture(live)), f"{n_steps}, {estimator}: not drawn"
        shown = now
