"""Property tests (hypothesis) over shapes, batch sizes, dtypes and t in [0, 1] including both ends.

Every output must be finite (no NaN, no inf) and keep the input's dtype; the values the docstrings
promise at t = 0 and t = 1 are checked exactly. Sizes are small and examples few, so the whole file
runs in seconds.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from fmtutor import (  # noqa: E402
    couplings,
    data,
    exact,
    fields,
    guidance,
    likelihood,
    metrics,
    models,
    paths,
    schedules,
    sde,
    solvers,
    training,
)
from fmtutor.course import plots  # noqa: E402

FAST = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
DTYPES = st.sampled_from([torch.float32, torch.float64])
SCHEDULERS = [
    paths.CondOTScheduler(),
    paths.CosineScheduler(),
    paths.PolynomialScheduler(0.5),
    paths.PolynomialScheduler(2.0),
    paths.VPScheduler(),
]
# times in [0, 1] with both ends and the awkward neighbours of 1 much more likely than uniform draws would make them
TIMES = st.one_of(
    st.sampled_from([0.0, 1.0, 1 - 1e-7, 1e-7, 0.5]), st.floats(0.0, 1.0, allow_subnormal=True)
)


def finite(x: torch.Tensor) -> bool:
    return bool(torch.isfinite(x).all())


@st.composite
def batch(draw, max_b: int = 6, max_d: int = 4):
    """(x_0, x_1, t, dtype): points (B, d) and a time as a float, a (B,) or a (B, 1) tensor."""
    b, d = draw(st.integers(1, max_b)), draw(st.integers(1, max_d))
    dtype = draw(DTYPES)
    seed = draw(st.integers(0, 2**16))
    g = torch.Generator().manual_seed(seed)
    x0 = (
        torch.randn(b, d, generator=g, dtype=torch.float64)
        * draw(st.sampled_from([1e-3, 1.0, 50.0]))
    ).to(dtype)
    x1 = (torch.randn(b, d, generator=g, dtype=torch.float64) * 3).to(dtype)
    kind = draw(st.sampled_from(["float", "vector", "column"]))
    ts = torch.tensor([draw(TIMES) for _ in range(b)], dtype=dtype)
    t = float(ts[0]) if kind == "float" else (ts if kind == "vector" else ts[:, None])
    return x0, x1, t, dtype


# ------------------------------------------------------------------------------------------ paths


@FAST
@given(t=TIMES, dtype=DTYPES, n=st.integers(1, 5))
@pytest.mark.parametrize("sched", SCHEDULERS, ids=repr)
def test_schedulers_are_finite_and_keep_dtype(sched, t, dtype, n):
    tt = torch.full((n,), t, dtype=dtype)
    out = sched(tt)
    for name in ("alpha_t", "sigma_t", "d_alpha_t", "d_sigma_t"):
        v = getattr(out, name)
        assert v.dtype == dtype and v.shape == (n,) and finite(v), (name, t, v)
    assert bool((out.sigma_t >= 0).all()) and bool((out.alpha_t >= 0).all())
    if t == 1.0:
        assert torch.allclose(out.alpha_t, torch.ones_like(tt)) and bool((out.sigma_t == 0).all())


@FAST
@given(b=batch())
@pytest.mark.parametrize("sched", SCHEDULERS, ids=repr)
def test_path_sample_is_finite_and_hits_both_ends(sched, b):
    x0, x1, t, dtype = b
    ps = paths.AffinePath(sched).sample(x0, x1, t)
    assert ps.x_t.shape == x0.shape and ps.dx_t.shape == x0.shape
    assert ps.x_t.dtype == dtype and ps.dx_t.dtype == dtype and finite(ps.x_t) and finite(ps.dx_t)
    end = paths.AffinePath(sched).sample(x0, x1, 1.0)
    assert torch.allclose(end.x_t, x1, atol=1e-5 * (1 + float(x1.abs().max())))
    if not isinstance(sched, paths.VPScheduler):  # VP starts only *near* the source (alpha_0 > 0)
        assert torch.equal(paths.AffinePath(sched).sample(x0, x1, 0.0).x_t, x0)


@FAST
@given(b=batch())
@pytest.mark.parametrize("sched", SCHEDULERS, ids=repr)
def test_conditional_velocity_is_finite_and_documented_at_t1(sched, b):
    x, x1, t, dtype = b
    u = paths.conditional_velocity(x, x1, t, sched)
    assert u.dtype == dtype and u.shape == x.shape and finite(u)
    s = sched(torch.tensor(1.0, dtype=dtype))
    at_end = paths.conditional_velocity(
        s.alpha_t * x1, x1, 1.0, sched
    )  # documented: d_alpha_1 x_1 on the end point
    assert torch.allclose(at_end, s.d_alpha_t * x1, rtol=1e-4, atol=1e-4)
    if isinstance(sched, paths.CondOTScheduler) and isinstance(t, float) and t < 0.99:
        assert torch.allclose(u, (x1 - x) / (1 - t), rtol=1e-4, atol=1e-3)


@FAST
@given(
    b=batch(),
    src=st.sampled_from(paths.PARAMETRIZATIONS),
    dst=st.sampled_from(paths.PARAMETRIZATIONS),
)
@pytest.mark.parametrize("sched", [SCHEDULERS[0], SCHEDULERS[1], SCHEDULERS[4]], ids=repr)
def test_convert_is_finite_everywhere_and_exact_where_documented(sched, b, src, dst):
    v, x, t, dtype = b
    out = paths.convert(v, x, t, src, dst, sched)
    assert out.dtype == dtype and out.shape == x.shape and finite(out), (src, dst, t)
    assert torch.equal(
        paths.convert(v, x, t, src, src, sched), v
    )  # src == dst: the identity, even at t = 0 and 1
    x64, v64 = x.double(), v.double()
    s1 = sched(torch.tensor(1.0, dtype=torch.float64))
    # t = 1: from a velocity, x1 = x and epsilon = (v - d_alpha x) / d_sigma (CondOT: x - v)
    assert torch.allclose(paths.convert(v64, x64, 1.0, "velocity", "x1", sched), x64, atol=1e-9)
    assert torch.allclose(
        paths.convert(v64, x64, 1.0, "velocity", "epsilon", sched),
        (v64 - s1.d_alpha_t * x64) / s1.d_sigma_t,
        atol=1e-8,
    )
    # in the interior the conversions invert each other
    tm = 0.5
    there = paths.convert(v64, x64, tm, src, dst, sched)
    assert torch.allclose(paths.convert(there, x64, tm, dst, src, sched), v64, rtol=1e-8, atol=1e-8)


# ------------------------------------------------------------------------------------------ exact


TARGETS = {"mixture": data.eight_gaussians_mixture(), "points": data.two_moons(50, seed=0)}


@FAST
@given(b=batch(max_d=2), which=st.sampled_from(sorted(TARGETS)))
def test_exact_field_density_and_score_are_finite(b, which):
    x, _, t, dtype = b
    x = x[:, :1].repeat(1, 2) if x.shape[1] == 1 else x
    target = TARGETS[which]
    u = exact.marginal_velocity(x, t, target)
    assert u.dtype == dtype and u.shape == x.shape and finite(u)
    if which == "mixture":
        lp, sc = exact.marginal_log_prob(x, t, target), exact.marginal_score(x, t, target)
        assert lp.shape == (x.shape[0],) and lp.dtype == dtype and finite(lp)
        assert sc.dtype == dtype and finite(sc)


def test_exact_field_at_t1_snaps_to_the_nearest_data_point():
    pts = torch.tensor([[0.0, 0.0], [2.0, 0.0]], dtype=torch.float64)
    x = torch.tensor([[0.4, 0.1], [1.7, -0.2]], dtype=torch.float64)
    u = exact.marginal_velocity(
        x, 1.0, pts
    )  # documented: finite, sigma_1 floored at EPS, posterior = nearest point
    assert finite(u) and torch.allclose(u, pts + (pts - x) / paths.EPS, rtol=1e-6)


# ------------------------------------------------------------------------------------------ solvers, models, training


@FAST
@given(b=batch(), method=st.sampled_from(sorted(solvers.SOLVERS)), n_steps=st.integers(1, 6))
def test_solvers_move_a_constant_field_exactly_and_keep_dtype(b, method, n_steps):
    x0, c, _, dtype = b
    sol = solvers.solve(
        lambda x, t: c.expand_as(x), x0, method=method, n_steps=n_steps, return_trajectory=True
    )
    assert sol.x.dtype == dtype and sol.trajectory.shape == (n_steps + 1, *x0.shape)
    assert torch.allclose(sol.x, x0 + c, rtol=1e-5, atol=1e-4)
    assert sol.nfe == n_steps * {"euler": 1, "midpoint": 2, "heun": 2, "rk4": 4}[method]


@FAST
@given(b=batch(max_d=3), n_freq=st.integers(0, 3))
def test_mlp_output_is_finite_for_every_time_and_dtype(b, n_freq):
    x, _, t, dtype = b
    torch.manual_seed(0)
    net = models.MLP(dim=x.shape[1], hidden=8, depth=2, n_frequencies=n_freq).to(dtype)
    out = net(x, t)
    assert out.shape == x.shape and out.dtype == dtype and finite(out)


@FAST
@given(b=batch(max_d=3))
def test_cfm_loss_is_finite_and_nonnegative(b):
    x0, x1, t, dtype = b
    torch.manual_seed(0)
    net = models.MLP(dim=x0.shape[1], hidden=8, depth=1).to(dtype)
    tt = torch.as_tensor(t, dtype=dtype).reshape(-1).expand(x0.shape[0])
    loss = training.cfm_loss(net, x0, x1, tt).detach()
    assert loss.ndim == 0 and loss.dtype == dtype and finite(loss) and float(loss) >= 0


# ------------------------------------------------------------------------------------------ data, metrics


@FAST
@given(
    n=st.integers(1, 40),
    seed=st.integers(0, 2**31 - 1),
    name=st.sampled_from(sorted(data.SAMPLERS)),
)
def test_samplers_shape_dtype_and_seed(n, seed, name):
    a, b = data.sample(name, n, seed=seed), data.sample(name, n, seed=seed)
    assert a.shape == (n, 2) and a.dtype == torch.float32 and finite(a) and torch.equal(a, b)


@FAST
@given(b=batch(max_b=8), shift=st.floats(-3, 3))
def test_w2_is_a_distance_on_small_sets(b, shift):
    a, c, _, dtype = b
    assert metrics.wasserstein2(a, a) == pytest.approx(0.0, abs=1e-6)
    w_ac, w_ca = metrics.wasserstein2(a, c), metrics.wasserstein2(c, a)
    assert math.isfinite(w_ac) and w_ac >= 0 and w_ac == pytest.approx(w_ca, rel=1e-9, abs=1e-9)
    moved = metrics.wasserstein2(a, a + shift)  # a translation moves every point by |shift| sqrt(d)
    assert moved == pytest.approx(abs(shift) * math.sqrt(a.shape[1]), rel=1e-3, abs=1e-3)
    assert math.isfinite(metrics.sliced_wasserstein2(a, c, n_projections=16))
    if a.shape[0] >= 2:
        assert math.isfinite(metrics.mmd(a, c))


@FAST
@given(d=st.integers(1, 3), scale=st.floats(0.1, 5.0), shift=st.floats(-2, 2))
def test_gaussian_w2_closed_form(d, scale, shift):
    m = np.zeros(d)
    assert metrics.gaussian_w2(m, np.eye(d), m + shift, scale**2 * np.eye(d)) == pytest.approx(
        math.sqrt(d * shift**2 + d * (scale - 1) ** 2), rel=1e-6, abs=1e-6
    )


# ------------------------------------------------------------------------------------------ couplings, guidance


@FAST
@given(b=batch(max_b=7, max_d=3))
def test_ot_pairing_is_a_cheaper_permutation(b):
    x0, x1, _, _ = b
    s = couplings.ot_assignment(x0, x1)
    assert sorted(s.tolist()) == list(range(x0.shape[0]))
    assert couplings.transport_cost(x0, x1[s]) <= couplings.transport_cost(x0, x1) + 1e-6


@FAST
@given(b=batch(), w=st.floats(-3, 8))
def test_cfg_interpolates_and_keeps_dtype(b, w):
    uc, uu, _, dtype = b
    out = guidance.cfg_velocity(uc, uu, w)
    assert out.dtype == dtype and finite(out)
    assert torch.equal(guidance.cfg_velocity(uc, uu, 0.0), uu)
    assert torch.allclose(
        guidance.cfg_velocity(uc, uu, 1.0), uc, atol=1e-6 * (1 + float(uu.abs().max()))
    )


# ------------------------------------------------------------------------------------------ schedules, sde, likelihood, fields


@FAST
@given(t=TIMES, dtype=DTYPES, name=st.sampled_from(["condot", "cosine", "vp"]))
def test_log_snr_and_snr_time_map_are_finite_at_the_ends(t, dtype, name):
    ls = schedules.log_snr(torch.tensor([t, 0.0, 1.0], dtype=dtype), name)
    assert ls.dtype == dtype and finite(ls)
    t_r, s_r = schedules.snr_time_map(torch.tensor([t, 0.0, 1.0]), name, "condot", iters=30)
    assert finite(t_r) and finite(s_r) and bool(((t_r >= 0) & (t_r <= 1)).all())


@FAST
@given(s=TIMES, dtype=DTYPES)
def test_vp_sde_coefficients_are_finite(s, dtype):
    x = torch.randn(3, 2, dtype=dtype)
    f, g = sde.vp_sde_coefficients(x, s)
    assert f.dtype == dtype and finite(f) and finite(g)


def test_euler_maruyama_finite_and_seeded_in_float64():
    field = exact.MarginalField(data.eight_gaussians_mixture())
    x0 = torch.randn(16, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    a = sde.euler_maruyama(field, x0, diffusion=1.0, n_steps=8, seed=3)
    b = sde.euler_maruyama(field, x0, diffusion=1.0, n_steps=8, seed=3)
    assert a.x.dtype == torch.float64 and finite(a.x) and torch.equal(a.x, b.x)


@FAST
@given(d=st.integers(1, 4), seed=st.integers(0, 1000), t=TIMES, dtype=DTYPES)
def test_divergence_of_a_linear_field_is_its_trace(d, seed, t, dtype):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(d, d, generator=g, dtype=torch.float64)
    x = torch.randn(3, d, generator=g, dtype=torch.float64).to(dtype)
    div = likelihood.divergence_exact(lambda x, t: x @ a.T.to(x.dtype), x, t)
    assert div.dtype == dtype and torch.allclose(div.double(), torch.trace(a).expand(3), atol=1e-4)


@FAST
@given(t=TIMES, dtype=DTYPES, name=st.sampled_from(sorted(fields.FIELDS)))
def test_example_fields_are_finite_and_keep_dtype(t, dtype, name):
    f = fields.get_field(name)
    x = torch.randn(5, 2, dtype=dtype)
    for out in (f(x, t), f.flow(x, t)):
        assert out.dtype == dtype and out.shape == x.shape and finite(out)
    assert finite(f.divergence(x, t))


# ------------------------------------------------------------------------------------------ plots


@settings(max_examples=8, deadline=None, derandomize=True)
@given(b=batch(max_b=5, max_d=1), as_numpy=st.booleans())
def test_plots_accept_tensors_numpy_and_float64(b, as_numpy):
    import matplotlib.pyplot as plt

    x, _, t, dtype = b
    pts = torch.cat([x, x], 1)
    ax = plots.scatter(pts.numpy() if as_numpy else pts)
    plots.quiver(lambda z, t: -z.to(dtype), t=float(torch.as_tensor(t).reshape(-1)[0]), ax=ax, n=5)
    plots.trajectories(torch.stack([pts, 2 * pts]), ax=ax)
    assert len(plots.figure_png(ax.figure, dpi=20)) > 100
    plt.close(ax.figure)
