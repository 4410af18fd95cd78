"""fmtutor.exact: the exact marginal field and density against Monte Carlo, the continuity equation, sampling."""

import math

import pytest
import torch

from fmtutor import data, exact, metrics, paths, solvers

GM = data.GaussianMixture(
    [[-2.0, 0.0], [2.0, 1.0], [0.0, -2.0]],
    [[[0.3, 0.1], [0.1, 0.2]], [[0.2, 0.0], [0.0, 0.5]], [[0.4, -0.1], [-0.1, 0.3]]],
    [0.5, 0.3, 0.2],
)


def _mc_velocity(x, t, sched, n=400_000, seed=0):
    """E[u_t(x | X_1) | X_t = x] by self-normalised importance sampling over X_1 ~ q."""
    g = torch.Generator().manual_seed(seed)
    x1 = GM.sample(n, seed=g).double()
    s = sched(torch.tensor(t, dtype=torch.float64))
    logw = -((x[None] - s.alpha_t * x1[:, None]) ** 2).sum(-1) / (2 * s.sigma_t**2)  # (n, B)
    w = torch.softmax(logw, 0)[..., None]
    u = paths.conditional_velocity(
        x[None].expand(n, -1, -1).reshape(-1, 2),
        x1[:, None].expand(-1, x.shape[0], -1).reshape(-1, 2),
        t,
        sched,
    ).reshape(n, x.shape[0], 2)
    return (w * u).sum(0)


@pytest.mark.parametrize(
    "sched", [paths.CondOTScheduler(), paths.CosineScheduler(), paths.VPScheduler()], ids=repr
)
def test_marginal_velocity_matches_monte_carlo(sched):
    x = torch.tensor([[0.0, 0.0], [1.0, 0.5], [-1.5, -0.5]], dtype=torch.float64)
    for t in (0.3, 0.7):
        assert torch.allclose(
            exact.marginal_velocity(x, t, GM, sched), _mc_velocity(x, t, sched), atol=0.03
        )


def test_marginal_density_boundaries():
    x = torch.randn(50, 2, dtype=torch.float64) * 2
    std_normal = -0.5 * (x**2).sum(1) - math.log(2 * math.pi)
    assert torch.allclose(exact.marginal_log_prob(x, 0.0, GM), std_normal, atol=1e-10)
    assert torch.allclose(exact.marginal_log_prob(x, 1.0, GM), GM.log_prob(x), atol=1e-6)


def test_marginal_density_integrates_to_one():
    xs = torch.linspace(-7, 7, 281, dtype=torch.float64)
    gx, gy = torch.meshgrid(xs, xs, indexing="ij")
    pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)
    for t in (0.2, 0.6, 0.9):
        mass = exact.marginal_log_prob(pts, t, GM).exp().sum() * (xs[1] - xs[0]) ** 2
        assert abs(float(mass) - 1) < 1e-3


@pytest.mark.parametrize("sched", ["condot", "cosine"])
def test_continuity_equation(sched):
    """d/dt p_t(x) + div(p_t u_t)(x) = 0, by finite differences in t and x."""
    x = torch.tensor([[0.3, -0.4], [-1.0, 0.8], [1.5, 0.2], [0.0, -1.5]], dtype=torch.float64)
    h = 1e-4
    for t in (0.25, 0.5, 0.8):
        dp_dt = (
            exact.marginal_log_prob(x, t + h, GM, sched).exp()
            - exact.marginal_log_prob(x, t - h, GM, sched).exp()
        ) / (2 * h)
        div = torch.zeros(x.shape[0], dtype=torch.float64)
        for i in range(2):
            e = torch.zeros(2, dtype=torch.float64)
            e[i] = h
            flux = lambda y: (
                exact.marginal_log_prob(y, t, GM, sched).exp()[:, None]
                * exact.marginal_velocity(y, t, GM, sched)
            )
            div += (flux(x + e)[:, i] - flux(x - e)[:, i]) / (2 * h)
        assert torch.allclose(dp_dt, -div, atol=1e-6), (t, dp_dt, -div)


def test_score_is_gradient_of_log_density():
    x = torch.randn(6, 2, dtype=torch.float64, requires_grad=True)
    lp = exact.marginal_log_prob(x, 0.6, GM, "cosine")
    grad = torch.autograd.grad(lp.sum(), x)[0]
    assert torch.allclose(exact.marginal_score(x.detach(), 0.6, GM, "cosine"), grad, atol=1e-8)


def test_exact_field_transports_noise_to_the_target():
    """ODE samples are as close to fresh target sets as other fresh target sets are (3 seeds averaged)."""
    field = exact.MarginalField(GM)
    model_w2 = floor_w2 = early_w2 = 0.0
    for seed in range(3):
        x0 = torch.randn(800, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        ref = GM.sample(800, seed=100 + seed)
        model_w2 += (
            metrics.wasserstein2(solvers.solve(field, x0, method="midpoint", n_steps=16).x, ref) / 3
        )
        floor_w2 += metrics.wasserstein2(GM.sample(800, seed=200 + seed), ref) / 3
        early_w2 += (
            metrics.wasserstein2(
                solvers.solve(field, x0, method="midpoint", n_steps=16, t1=0.8).x, ref
            )
            / 3
        )
    assert model_w2 < 1.2 * floor_w2, (model_w2, floor_w2)
    assert early_w2 > 1.5 * floor_w2  # stopping at t = 0.8 is clearly visible


def test_point_target_velocity_and_end_snap():
    pts = torch.tensor([[1.0, 1.0], [-1.0, 2.0]], dtype=torch.float64)
    x = torch.tensor([[0.9, 1.1]], dtype=torch.float64)
    # near t = 1 the posterior is one-hot on the nearest point: u = (x1 - x) / (1 - t)
    t = 0.9
    assert torch.allclose(exact.marginal_velocity(x, t, pts), (pts[:1] - x) / (1 - t), atol=1e-6)
    assert torch.isfinite(exact.marginal_velocity(x, 1.0, pts)).all()


def test_cfm_loss_floor_of_a_single_point_is_zero():
    pts = torch.tensor([[1.0, -1.0]])
    assert exact.cfm_loss_floor(pts, pts, n=2000) < 1e-8


def test_bad_target_shape():
    with pytest.raises(ValueError, match="x: expected points of dimension 2"):
        exact.marginal_velocity(torch.zeros(3, 3), 0.5, GM)


def test_field_error_is_the_relative_squared_error():
    target = data.two_moons(200, seed=0)
    field = exact.MarginalField(target)
    x = torch.randn(50, 2, generator=torch.Generator().manual_seed(0))
    assert exact.field_error(field, target, 0.5, x) == 0.0
    assert exact.field_error(lambda x, t: torch.zeros_like(x), target, 0.5, x) == 1.0
    half = exact.field_error(lambda x, t: 0.5 * field(x, t), target, 0.3, x)
    assert abs(half - 0.25) < 1e-6  # |u/2 - u|^2 / |u|^2


def test_point_target_field_and_score_near_t1_are_not_floored():
    """One point x_1: u_t(x) = (x_1 - x) / (1 - t) and score = -(x - t x_1) / (1 - t)^2 (CondOT).

    sigma_t used to be floored at 1e-5 over all of (1 - 1e-5, 1): at t = 1 - 1e-6 the velocity was
    10x too small. Two points: against the float64 posterior written out here.
    """
    x1 = torch.tensor([[1.0, -0.5]], dtype=torch.float64)
    x = torch.tensor([[1.0 + 3e-7, -0.5 - 2e-7], [0.2, 0.3]], dtype=torch.float64)
    for t in (1 - 1e-4, 1 - 1e-6, 1 - 1e-8):
        u = exact.marginal_velocity(x, t, x1)
        assert torch.allclose(u, (x1 - x) / (1 - t), rtol=1e-6, atol=0), t
        score = exact.marginal_score(x, t, x1)
        assert torch.allclose(score, -(x - t * x1) / (1 - t) ** 2, rtol=1e-6, atol=0), t
    pts = torch.tensor([[1.0, -0.5], [1.01, -0.5]], dtype=torch.float64)
    x = torch.tensor([[1.005, -0.5], [1.0049, -0.4999]], dtype=torch.float64)
    for t in (1 - 1e-2, 1 - 1e-3, 1 - 1e-4):  # the two points share the posterior
        w = torch.softmax(-((x[:, None] - t * pts[None]) ** 2).sum(-1) / (2 * (1 - t) ** 2), 1)
        want = (w[..., None] * (pts[None] - x[:, None])).sum(1) / (1 - t)
        assert torch.allclose(exact.marginal_velocity(x, t, pts), want, rtol=1e-6, atol=0), t
    assert torch.isfinite(exact.marginal_velocity(x, 1.0, pts)).all()  # EPS at t = 1 only


def test_large_batches_are_evaluated_in_chunks_bit_identical_to_one_call(monkeypatch):
    """The exact field over a 20,000-point pool on a 200 x 200 grid asked for one 6.4 GB matrix."""
    pool = data.two_moons(300, seed=0).double()
    x = torch.randn(1000, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    t = torch.rand(1000, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    whole = {
        "velocity": exact.marginal_velocity(x, t, pool),
        "velocity at one t": exact.marginal_velocity(x, 0.7, pool),
        "velocity, mixture": exact.marginal_velocity(x, t, GM),
        "score": exact.marginal_score(x, t, pool),
        "log_prob": exact.marginal_log_prob(x, t[:, None], pool),
    }
    largest = []
    weights, post = exact._point_weights, exact.posterior
    monkeypatch.setattr(exact, "CHUNK_ENTRIES", 64 * 300 * 2, raising=False)
    monkeypatch.setattr(
        exact, "_point_weights", lambda x, *a: largest.append(x.shape[0] * 300) or weights(x, *a)
    )

    def spy(x, t, target, *a):  # the posterior's (B, K, d) tensors; (B, K, d, d) for a mixture
        per_row = 3 * 2 * 2 if isinstance(target, data.GaussianMixture) else len(target) * 2
        largest.append(x.shape[0] * per_row)
        return post(x, t, target, *a)

    monkeypatch.setattr(exact, "posterior", spy)
    chunked = {
        "velocity": exact.marginal_velocity(x, t, pool),
        "velocity at one t": exact.marginal_velocity(x, 0.7, pool),
        "velocity, mixture": exact.marginal_velocity(x, t, GM),
        "score": exact.marginal_score(x, t, pool),
        "log_prob": exact.marginal_log_prob(x, t[:, None], pool),
    }
    assert max(largest) <= 64 * 300 * 2, "no intermediate larger than CHUNK_ENTRIES"
    for name, want in whole.items():
        assert torch.equal(chunked[name], want), name
