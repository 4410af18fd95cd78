"""fmtutor.paths: schedulers, the affine path, conditional velocities and conversions, against closed forms."""

import math

import pytest
import torch

from fmtutor import paths
from fmtutor.data import eight_gaussians_mixture, make_generator
from fmtutor.exact import marginal_log_prob, marginal_velocity, posterior
from fmtutor.paths import AffinePath, conditional_velocity, convert

SCHEDS = [
    paths.CondOTScheduler(),
    paths.CosineScheduler(),
    paths.PolynomialScheduler(2.0),
    paths.PolynomialScheduler(3.0),
    paths.VPScheduler(),
]
ENDPOINT_EXACT = SCHEDS[:4]  # VP starts only near the source (alpha_0 = exp(-T(1)/2) > 0)
GM = eight_gaussians_mixture()


def _pts(n=64, seed=0, scale=2.0):
    return scale * torch.randn(n, 2, generator=make_generator(seed), dtype=torch.float64)


@pytest.mark.parametrize("sched", ENDPOINT_EXACT, ids=repr)
def test_path_hits_source_at_0_and_data_at_1(sched):
    x0, x1 = torch.randn(7, 2, dtype=torch.float64), torch.randn(7, 2, dtype=torch.float64)
    path = AffinePath(sched)
    assert torch.allclose(path.sample(x0, x1, 0.0).x_t, x0, atol=1e-12)
    assert torch.allclose(path.sample(x0, x1, 1.0).x_t, x1, atol=1e-12)


def test_vp_boundaries():
    s = paths.VPScheduler(0.1, 20.0)
    out1, out0 = (
        s(torch.tensor(1.0, dtype=torch.float64)),
        s(torch.tensor(0.0, dtype=torch.float64)),
    )
    assert float(out1.alpha_t) == 1.0 and float(out1.sigma_t) == 0.0
    assert math.isclose(float(out0.alpha_t), math.exp(-0.5 * (0.1 + 0.5 * 19.9)), rel_tol=1e-12)
    assert math.isclose(float(out0.alpha_t) ** 2 + float(out0.sigma_t) ** 2, 1.0, rel_tol=1e-12)


@pytest.mark.parametrize("sched", SCHEDS, ids=repr)
def test_derivatives_match_autograd(sched):
    t = torch.linspace(0.02, 0.97, 25, dtype=torch.float64, requires_grad=True)
    out = sched(t)
    da = torch.autograd.grad(out.alpha_t.sum(), t, retain_graph=True)[0]
    ds = torch.autograd.grad(out.sigma_t.sum(), t)[0]
    assert torch.allclose(out.d_alpha_t, da, rtol=1e-9, atol=1e-12)
    assert torch.allclose(out.d_sigma_t, ds, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("sched", SCHEDS, ids=repr)
def test_dx_t_is_time_derivative_of_x_t(sched):
    x0, x1 = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    t, h = torch.rand(5, dtype=torch.float64) * 0.9 + 0.05, 1e-6
    path = AffinePath(sched)
    fd = (path.sample(x0, x1, t + h).x_t - path.sample(x0, x1, t - h).x_t) / (2 * h)
    assert torch.allclose(path.sample(x0, x1, t).dx_t, fd, atol=1e-6)


def test_condot_target_is_x1_minus_x0():
    x0, x1 = torch.randn(6, 2), torch.randn(6, 2)
    ps = AffinePath().sample(x0, x1, torch.rand(6))
    assert torch.allclose(ps.dx_t, x1 - x0)


@pytest.mark.parametrize("sched", SCHEDS, ids=repr)
def test_conditional_velocity_generates_the_conditional_flow(sched):
    """d/dt of psi_t(x_0 | x_1) = sigma_t x_0 + alpha_t x_1 equals u_t(psi_t(x_0 | x_1) | x_1)."""
    x0, x1 = torch.randn(8, 2, dtype=torch.float64), torch.randn(8, 2, dtype=torch.float64)
    t, h = torch.rand(8, dtype=torch.float64) * 0.9 + 0.05, 1e-6
    path = AffinePath(sched)
    fd = (path.sample(x0, x1, t + h).x_t - path.sample(x0, x1, t - h).x_t) / (2 * h)
    u = conditional_velocity(path.sample(x0, x1, t).x_t, x1, t, sched)
    assert torch.allclose(u, fd, atol=1e-6)


def test_condot_conditional_velocity_closed_form():
    x, x1, t = (
        torch.randn(9, 2, dtype=torch.float64),
        torch.randn(9, 2, dtype=torch.float64),
        torch.rand(9, dtype=torch.float64) * 0.99,
    )
    assert torch.allclose(conditional_velocity(x, x1, t), (x1 - x) / (1 - t)[:, None])


@pytest.mark.parametrize("sched", SCHEDS, ids=repr)
@pytest.mark.parametrize("t", [0.0, 1 - 1e-7, 1.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_no_nan_or_inf_at_the_ends(sched, t, dtype):
    x, x1 = torch.randn(4, 2, dtype=dtype), torch.randn(4, 2, dtype=dtype)
    assert torch.isfinite(conditional_velocity(x, x1, t, sched)).all()
    for src in paths.PARAMETRIZATIONS:
        for dst in paths.PARAMETRIZATIONS:
            assert torch.isfinite(convert(x1, x, t, src, dst, sched)).all(), (src, dst)


def test_conditional_velocity_at_t1_on_the_endpoint_is_documented_value():
    """At t = 1 on the end point x = x_1 the 0/0 is resolved as d_alpha_1 x_1 (x_0 taken at its mean, 0)."""
    x1 = torch.randn(4, 2)
    assert torch.allclose(conditional_velocity(x1, x1, 1.0), x1)
    assert torch.allclose(
        conditional_velocity(x1, x1, 1.0, "cosine"), torch.zeros_like(x1), atol=1e-6
    )


@pytest.mark.parametrize("sched", SCHEDS, ids=repr)
def test_convert_matches_posterior_identities_and_round_trips(sched):
    """With x_t from known (x_0, x_1) and value = the true quantity, convert recovers the others exactly."""
    x0, x1 = torch.randn(6, 2, dtype=torch.float64), torch.randn(6, 2, dtype=torch.float64)
    t = torch.rand(6, dtype=torch.float64) * 0.8 + 0.1
    ps = AffinePath(sched).sample(x0, x1, t)
    sig = sched(t).sigma_t[:, None]
    truth = {"velocity": ps.dx_t, "x1": x1, "epsilon": x0, "score": -x0 / sig}
    for src, v in truth.items():
        for dst, want in truth.items():
            got = convert(v, ps.x_t, t, src, dst, sched)
            assert torch.allclose(got, want, atol=1e-8), (src, dst)


def test_convert_condot_closed_forms():
    x, v, t = (
        torch.randn(5, 2, dtype=torch.float64),
        torch.randn(5, 2, dtype=torch.float64),
        torch.rand(5, dtype=torch.float64),
    )
    tt = t[:, None]
    assert torch.allclose(convert(v, x, t, "velocity", "x1"), x + (1 - tt) * v)
    assert torch.allclose(convert(v, x, t, "velocity", "epsilon"), x - tt * v)


def test_bad_inputs_name_the_argument():
    x = torch.zeros(3, 2)
    with pytest.raises(ValueError, match="t: expected times in \\[0, 1\\]"):
        conditional_velocity(x, x, 1.5)
    with pytest.raises(ValueError, match="x and x_1"):
        conditional_velocity(x, torch.zeros(3, 3), 0.5)
    with pytest.raises(ValueError, match="t: expected 3 times"):
        AffinePath().sample(x, x, torch.rand(4))
    with pytest.raises(ValueError, match="scheduler: expected one of"):
        AffinePath("linear-ish")
    with pytest.raises(ValueError, match="dst: expected one of"):
        convert(x, x, 0.5, "velocity", "noise")
    with pytest.raises(TypeError, match="x_0: expected a tensor or array, got None"):
        AffinePath().sample(None, x, 0.5)
    with pytest.raises(ValueError, match="n: expected a positive number"):
        paths.PolynomialScheduler(0)


def test_numpy_inputs_are_accepted():
    import numpy as np

    out = conditional_velocity(np.zeros((2, 2)), np.ones((2, 2)), 0.5)
    assert torch.allclose(out, torch.full((2, 2), 2.0, dtype=out.dtype))


def test_vp_boundary_values():
    for bmin, bmax in [(0.1, 20.0), (0.5, 10.0)]:
        s = paths.VPScheduler(bmin, bmax)
        one, zero = (
            s(torch.tensor(1.0, dtype=torch.float64)),
            s(torch.tensor(0.0, dtype=torch.float64)),
        )
        assert float(one.alpha_t) == 1.0 and float(one.sigma_t) == 0.0
        big_t1 = bmin + 0.5 * (bmax - bmin)
        assert math.isclose(float(zero.alpha_t), math.exp(-big_t1 / 2), rel_tol=1e-12)
        assert math.isclose(float(zero.sigma_t), math.sqrt(1 - math.exp(-big_t1)), rel_tol=1e-12)


@pytest.mark.parametrize("sched", ["condot", "cosine", "vp"])
def test_convert_round_trips(sched):
    x, v = _pts(), _pts(seed=1)
    t = torch.tensor([0.1, 0.4, 0.7, 0.9], dtype=torch.float64).repeat(16)
    for src in paths.PARAMETRIZATIONS:
        for dst in paths.PARAMETRIZATIONS:
            back = paths.convert(paths.convert(v, x, t, src, dst, sched), x, t, dst, src, sched)
            assert torch.allclose(back, v, atol=1e-8, rtol=1e-8), (src, dst)


@pytest.mark.parametrize("sched", ["condot", "cosine", "vp"])
def test_convert_matches_exact_posterior_means_and_autograd_score(sched):
    x = _pts(40)
    t = 0.6
    u = marginal_velocity(x, t, GM, sched)
    log_joint, m1, m0, log_p = posterior(x, t, GM, sched)
    w = torch.exp(log_joint - log_p[:, None])[..., None]
    assert torch.allclose(
        paths.convert(u, x, t, "velocity", "x1", sched), (w * m1).sum(1), atol=1e-8
    )
    assert torch.allclose(
        paths.convert(u, x, t, "velocity", "epsilon", sched), (w * m0).sum(1), atol=1e-8
    )
    xg = x.clone().requires_grad_(True)
    grad = torch.autograd.grad(marginal_log_prob(xg, t, GM, sched).sum(), xg)[0]
    assert torch.allclose(paths.convert(u, x, t, "velocity", "score", sched), grad, atol=1e-8)


# ---- to the ends of [0, 1]: exact wherever the quantity is defined, floored only where singular --

NEAR_ENDS = [10.0**-k for k in range(1, 8)] + [1 - 10.0**-k for k in range(1, 8)]


@pytest.mark.parametrize(
    "sched", [*SCHEDS, paths.PolynomialScheduler(0.5)], ids=lambda s: repr(s).replace(" ", "")
)
def test_convert_is_exact_on_a_grid_dense_near_both_ends(sched):
    """Against float64 references: every quantity from its true (x_0, x_1), at t = 1e-k and 1 - 1e-k.

    The old floor took |det| < 1e-5 as singular: PolynomialScheduler(3) at t = 1e-3 gave 0.3x the
    truth for velocity -> x1, CondOT at t = 1e-6 gave 0.1x for epsilon -> x1.
    """
    g = make_generator(5)
    x0, x1 = torch.randn(3, 2, generator=g, dtype=torch.float64), torch.randn(3, 2, generator=g)
    x1 = x1.double()
    for t in NEAR_ENDS:
        tt = torch.full((3,), t, dtype=torch.float64)
        s = sched(tt)
        ps = AffinePath(sched).sample(x0, x1, tt)
        truth = {"velocity": ps.dx_t, "x1": x1, "epsilon": x0, "score": -x0 / s.sigma_t[:, None]}
        for src, v in truth.items():
            tol = 1e-6 + 1e-12 * _condition(src, s)  # float64 round-off, times the conditioning
            for dst, want in truth.items():
                got = convert(v, ps.x_t, tt, src, dst, sched)
                err = float((got - want).norm() / want.norm())
                assert err < tol, (t, src, dst, err)


def _condition(src, s):
    """Condition number of recovering (x_0, x_1) from x_t = sigma x_0 + alpha x_1 and src's value.

    src's value is c0 x_0 + c1 x_1; with both rows of [[sigma, alpha], [c0, c1]] scaled to a largest
    entry of 1, the condition number is about 4 / |det|. Large where the problem itself is
    ill-posed (x_1 from epsilon as alpha_t -> 0, x_0 from x1 as sigma_t -> 0), and finite there.
    """
    a, sg = float(s.alpha_t[0]), float(s.sigma_t[0])
    c0, c1 = {
        "velocity": (float(s.d_sigma_t[0]), float(s.d_alpha_t[0])),
        "x1": (0.0, 1.0),
        "epsilon": (1.0, 0.0),
        "score": (-1 / sg, 0.0),
    }[src]
    det = (sg * c1 - a * c0) / (max(abs(sg), abs(a)) * max(abs(c0), abs(c1)))
    return 4 / abs(det)


def test_conditional_velocity_and_scheduler_derivatives_near_the_ends_are_not_floored():
    x, x1 = _pts(4, seed=7), _pts(4, seed=8)
    for t in (1 - 1e-6, 1 - 1e-9):  # used to divide by 1e-5 instead of 1 - t
        want = (x1 - x) / (1 - t)
        assert torch.allclose(conditional_velocity(x, x1, t), want, rtol=1e-6, atol=0), t
    t = torch.tensor([1e-7, 1e-9], dtype=torch.float64)  # n < 1: d alpha / dt = n t^(n - 1)
    d = paths.PolynomialScheduler(0.5)(t).d_alpha_t
    assert torch.allclose(d, 0.5 * t**-0.5, rtol=1e-12)


def test_vp_sigma_keeps_its_relative_precision_in_float32_near_t1():
    """sigma = sqrt(1 - alpha^2) cancels in float32 (2.4e-2 relative error at t = 1 - 1e-5)."""
    vp = paths.VPScheduler()
    t32 = torch.tensor([1 - 1e-3, 1 - 1e-5, 1 - 1e-6, 1 - 1e-7, 0.5, 1e-3, 0.0])
    got = vp(t32)
    t = t32.double()  # the same times, evaluated in float64 with math.expm1
    s = 1 - t
    big_t = 0.1 * s + 0.5 * 19.9 * s**2
    sigma = torch.tensor([math.sqrt(-math.expm1(-float(v))) for v in big_t], dtype=torch.float64)
    alpha = torch.exp(-0.5 * big_t)
    d_sigma = -alpha * 0.5 * (0.1 + 19.9 * s) * alpha / sigma
    assert torch.allclose(got.sigma_t.double(), sigma, rtol=2e-6, atol=0)
    assert torch.allclose(got.d_sigma_t.double(), d_sigma, rtol=1e-5, atol=0)
    assert float(vp(torch.tensor(1.0)).sigma_t) == 0.0
