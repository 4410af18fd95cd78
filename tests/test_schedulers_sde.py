"""Schedulers, the VP-SDE / probability-flow ODE link, conversions, the SDE sampler and chapter 9's widgets."""

import math

import pytest
import torch

import fmtutor as F
from fmtutor import exercises as E
from fmtutor import paths, schedules, sde
from fmtutor.data import eight_gaussians_mixture, make_generator
from fmtutor.exact import (
    MarginalField,
    marginal_log_prob,
    marginal_score,
    marginal_velocity,
    posterior,
)

SCHEDS = [
    paths.CondOTScheduler(),
    paths.CosineScheduler(),
    paths.PolynomialScheduler(2.0),
    paths.VPScheduler(),
    paths.VPScheduler(0.5, 10.0),
]
GM = eight_gaussians_mixture()


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _pts(n=64, seed=0, scale=2.0):
    return scale * torch.randn(n, 2, generator=make_generator(seed), dtype=torch.float64)


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


@pytest.mark.parametrize("sched", SCHEDS, ids=repr)
def test_derivatives_match_autograd(sched):
    t = torch.linspace(0.01, 0.99, 41, dtype=torch.float64)
    da, ds = schedules.derivatives_autograd(t, sched)
    out = sched(t)
    assert torch.allclose(da, out.d_alpha_t, atol=1e-10, rtol=1e-10)
    assert torch.allclose(ds, out.d_sigma_t, atol=1e-10, rtol=1e-10)


def test_log_snr_values_and_monotone():
    t = torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64)
    assert torch.allclose(schedules.log_snr(t, "condot"), 2 * torch.log(t / (1 - t)))
    assert torch.allclose(schedules.log_snr(t, "cosine"), 2 * torch.log(torch.tan(math.pi * t / 2)))
    grid = torch.linspace(0.01, 0.99, 99, dtype=torch.float64)
    for s in SCHEDS:
        assert (schedules.log_snr(grid, s).diff() > 0).all(), s


def test_snr_time_map_cosine_to_condot_closed_form():
    r = torch.linspace(0, 1, 21, dtype=torch.float64)
    t_r, s_r = schedules.snr_time_map(r, "cosine", "condot")
    a = math.pi * r / 2
    assert torch.allclose(t_r, torch.sin(a) / (torch.sin(a) + torch.cos(a)), atol=1e-12)
    assert torch.allclose(s_r, torch.sin(a) + torch.cos(a), atol=1e-9)


def test_scheduler_change_maps_exact_flows():
    """The cosine flow at r equals s_r times the CondOT flow at t_r; both end at the same x_1."""
    x0 = torch.randn(100, 2, generator=make_generator(3), dtype=torch.float64)
    r = torch.linspace(0, 1, 41, dtype=torch.float64)
    t_r, s_r = schedules.snr_time_map(r, "cosine", "condot")
    cos = F.solvers.solve(
        MarginalField(GM, "cosine"), x0, "rk4", time_grid=r, return_trajectory=True
    )
    ot = F.solvers.solve(
        MarginalField(GM, "condot"), x0, "rk4", time_grid=t_r, return_trajectory=True
    )
    mapped = s_r[:, None, None] * ot.trajectory
    assert (cos.trajectory - mapped).abs().max() < 2e-3
    assert (cos.x - ot.x).abs().max() < 2e-3


def test_straightness_and_length_ratio_truths():
    times = torch.linspace(0, 1, 11, dtype=torch.float64)
    a, b = torch.tensor([0.0, 0.0]), torch.tensor([3.0, 4.0])
    line = (1 - times)[:, None, None] * a + times[:, None, None] * b  # (11, 1, 2), constant speed
    assert float(schedules.straightness(line, times)) < 1e-20
    assert math.isclose(float(schedules.path_length_ratio(line)), 1.0, rel_tol=1e-12)
    # a half circle of radius 1 at constant angular speed pi: |v - chord|^2 = pi^2 + 4 - 4 pi sin(pi t)... integrates to pi^2 - 4
    tt = torch.linspace(0, 1, 4001, dtype=torch.float64)
    arc = torch.stack([torch.cos(math.pi * tt), torch.sin(math.pi * tt)], 1)[:, None, :]
    assert math.isclose(float(schedules.path_length_ratio(arc)), math.pi / 2, rel_tol=1e-5)
    assert math.isclose(float(schedules.straightness(arc, tt)), math.pi**2 - 4, rel_tol=1e-4)


@pytest.mark.parametrize("t", [0.05, 0.3, 0.6, 0.9, 0.99])
def test_vp_marginal_velocity_is_pf_ode_drift(t):
    x = _pts()
    u = marginal_velocity(x, t, GM, "vp")
    score = marginal_score(x, t, GM, "vp")
    drift_s = sde.pf_ode_drift(x, 1 - t, score)  # dx/ds in diffusion time
    assert torch.allclose(u, -drift_s, atol=1e-9, rtol=1e-9)
    beta = float(sde.vp_beta(1 - t))
    assert torch.allclose(u, 0.5 * beta * (x + score), atol=1e-9, rtol=1e-9)


def test_vp_sde_coefficients():
    x = _pts(5)
    f, g = sde.vp_sde_coefficients(x, 0.25)
    beta = 0.1 + 19.9 * 0.25
    assert torch.allclose(f, -0.5 * beta * x) and math.isclose(
        float(g), math.sqrt(beta), rel_tol=1e-6
    )
    with pytest.raises(TypeError, match="scheduler"):
        sde.vp_beta(0.5, "condot")
    with pytest.raises(ValueError, match="s:"):
        sde.vp_beta(1.5)


def test_vp_pf_ode_in_diffusion_time_matches_flow_matching_solve():
    """Integrating dx/ds = f - g^2 score / 2 from s = 1 down to 0 is the FM flow from t = 0 to 1."""
    x0 = torch.randn(60, 2, generator=make_generator(4), dtype=torch.float64)

    def drift_s(x, s):
        return sde.pf_ode_drift(x, s, marginal_score(x, 1 - s, GM, "vp"))

    back = F.solvers.solve(drift_s, x0, "rk4", n_steps=50, t0=1.0, t1=0.0).x
    fwd = F.solvers.solve(MarginalField(GM, "vp"), x0, "rk4", n_steps=50).x
    assert (back - fwd).abs().max() < 1e-9  # the same grid, mirrored: equal up to rounding


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


def test_euler_maruyama_without_noise_is_euler():
    field = MarginalField(GM)
    x0 = torch.randn(100, 2, generator=make_generator(0))
    a = sde.euler_maruyama(field, x0, 0.0, 20).x
    b = F.solvers.solve(field, x0, "euler", n_steps=20).x
    assert torch.equal(a, b)


def test_euler_maruyama_reaches_target_and_needs_the_score():
    """With the exact field the SDE samples have the target's mean log-likelihood; without the score term they don't."""
    field = MarginalField(GM)
    x0 = torch.randn(600, 2, generator=make_generator(0), dtype=torch.float64)
    true_ll = float(GM.log_prob(GM.sample(4000, seed=3).double()).mean())
    x = sde.euler_maruyama(field, x0, 1.5, 60, seed=1).x
    assert abs(float(GM.log_prob(x).mean()) - true_ll) < 0.2
    floor = F.metrics.noise_floor(GM.sample, 600, repeats=2)
    assert F.metrics.wasserstein2(x, GM.sample(600, seed=5)) < floor + 0.1
    g0 = sde.euler_maruyama(
        field, x0[:50], lambda t: 0.0 * t, 20
    ).x  # a callable g = 0: the plain ODE
    assert torch.equal(g0, sde.euler_maruyama(field, x0[:50], 0.0, 20).x)

    def drift_only(x, t):  # forgetting the score correction: noise but no compensating drift
        g = 1.5 * (1 - t)
        return field(x, t) - 0.5 * g**2 * paths.convert(field(x, t), x, t, "velocity", "score")

    wrong = sde.euler_maruyama(drift_only, x0, 1.5, 60, seed=1).x
    assert float(GM.log_prob(wrong).mean()) < true_ll - 1.0


def test_sde_input_checks():
    field = MarginalField(GM)
    with pytest.raises(ValueError, match="diffusion"):
        sde.euler_maruyama(field, torch.zeros(3, 2), -1.0)
    with pytest.raises(ValueError, match="x_init"):
        sde.euler_maruyama(field, torch.zeros(3), 1.0)
    with pytest.raises(ValueError, match="score"):
        sde.pf_ode_drift(torch.zeros(3, 2), 0.5, torch.zeros(2, 2))


def test_schedule_widget_recomputes():
    x0, x1 = torch.randn(50, 2), GM.sample(50, seed=0)
    live = schedules.schedule_widget(x0, x1, t=0.0)
    rows0 = {n: (a, s) for n, a, s, _ in live.state["rows"]}
    assert rows0["condot"] == (0.0, 1.0) and rows0["cosine"][0] == 0.0
    live.controls["t"].value = 1.0
    rows1 = {n: (a, s) for n, a, s, _ in live.state["rows"]}
    assert rows1["condot"] == (1.0, 0.0) and rows1["vp"] == (1.0, 0.0)
    live.controls["t"].value = 0.5
    rows = {n: (a, s) for n, a, s, _ in live.state["rows"]}
    assert math.isclose(rows["cosine"][0], math.sqrt(0.5), rel_tol=1e-9)
    assert live.last_error is None and live.calls == 3 and "cosine" in live.text.value


def test_sde_widget_recomputes():
    live = sde.sde_widget(MarginalField(GM), GM.sample, n=150, n_steps=20)
    w2_ode, x_ode = live.state["w2"], live.state["x"]
    live.controls["gamma"].value = 2.0
    assert live.last_error is None
    assert not torch.allclose(live.state["x"], x_ode)
    assert live.state["w2"] < 1.0 and w2_ode < 1.0
    assert f"{live.state['w2']:.3f}" in live.text.value


def test_exercise_checks_x1_and_score():
    for check, ref in [
        (E.check_x1_from_velocity, E.reference_x1_from_velocity),
        (E.check_score_from_velocity, E.reference_score_from_velocity),
    ]:
        assert check(ref, verbose=False).passed

    def todo(v, x, t):
        raise NotImplementedError

    assert E.check_x1_from_velocity(todo, verbose=False).status == "todo"
    hints = {
        "backwards": lambda v, x, t: x + t * v,
        "sign": lambda v, x, t: x - (1 - t) * v,
        "displacement": lambda v, x, t: (1 - t) * v,
        "missing": lambda v, x, t: x + v,
        "noise prediction": lambda v, x, t: x - t * v,
    }
    for word, wrong in hints.items():
        res = E.check_x1_from_velocity(wrong, verbose=False)
        assert res.status == "mistake" and word in res.message, (word, res.message)
    hints = {
        "sign": lambda v, x, t: (x - t * v) / (1 - t),
        "forgot to divide": lambda v, x, t: t * v - x,
        "variance": lambda v, x, t: (t * v - x) / (1 - t) ** 2,
        "data prediction": lambda v, x, t: -(x + (1 - t) * v) / (1 - t),
        "not t": lambda v, x, t: (t * v - x) / t,
    }
    for word, wrong in hints.items():
        res = E.check_score_from_velocity(wrong, verbose=False)
        assert res.status == "mistake" and word in res.message, (word, res.message)
    # the reference agrees with paths.convert
    v, x, t = torch.randn(4, 2), torch.randn(4, 2), torch.tensor([[0.2], [0.4], [0.6], [0.8]])
    assert torch.allclose(
        E.reference_x1_from_velocity(v, x, t), paths.convert(v, x, t, "velocity", "x1"), atol=1e-6
    )
    assert torch.allclose(
        E.reference_score_from_velocity(v, x, t),
        paths.convert(v, x, t, "velocity", "score"),
        atol=1e-5,
    )
