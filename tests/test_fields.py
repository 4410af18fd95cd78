"""Example fields against their closed forms, the chapter 0-3 widget builders (headless) and their exercises."""

import math

import pytest
import torch

import fmtutor as F
from fmtutor import fields as FL

E = F.exercises
PNG = b"\x89PNG"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _points(n=64, seed=0):
    return torch.randn(n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ------------------------------------------------------------------------------------------ fields


@pytest.mark.parametrize("name", list(FL.FIELDS))
def test_flow_solves_the_ode(name):
    """psi_0 = id and d/dt psi_t(x) = u_t(psi_t(x)) (central differences), for every example field."""
    f, x = FL.get_field(name), _points()
    assert torch.allclose(f.flow(x, 0.0), x, atol=1e-12)
    h = 1e-5
    for t in (0.2, 0.5, 0.9):
        dpsi = (f.flow(x, t + h) - f.flow(x, t - h)) / (2 * h)
        assert torch.allclose(dpsi, f(f.flow(x, t), t), atol=1e-6), name


@pytest.mark.parametrize("name", list(FL.FIELDS))
def test_flow_matches_rk4_and_divergence_matches_autograd(name):
    f, x = FL.get_field(name), _points(32, 1)
    sol = F.solvers.solve(f, x, method="rk4", n_steps=100)
    assert torch.allclose(sol.x, f.flow(x, 1.0), atol=1e-7)
    for t in (0.0, 0.4, 1.0):
        assert torch.allclose(FL.divergence(f, x, t), f.divergence(x, t), atol=1e-10)


def test_divergence_signs_and_values():
    x = _points(10)
    assert torch.allclose(
        FL.divergence(FL.sink(1.5), x), torch.full((10,), -3.0, dtype=torch.float64)
    )
    assert torch.allclose(
        FL.divergence(FL.source(0.5), x), torch.full((10,), 1.0, dtype=torch.float64)
    )
    assert FL.divergence(FL.rotation(2.0), x).abs().max() < 1e-12
    assert torch.allclose(
        FL.RotationToSink(3.0, 2.0).divergence(x, 0.25),
        torch.full((10,), -1.0, dtype=torch.float64),
    )
    # a nonlinear field: u = (x1^2, x1 x2) has divergence 2 x1 + x1 = 3 x1
    nonlinear = lambda p, t: torch.stack([p[:, 0] ** 2, p[:, 0] * p[:, 1]], 1)  # noqa: E731
    assert torch.allclose(FL.divergence(nonlinear, x), 3 * x[:, 0])


def test_rotation_preserves_norms_and_is_perpendicular():
    f, x = FL.rotation(1.5), _points()
    assert (x * f(x, 0.0)).sum(1).abs().max() < 1e-12
    assert torch.allclose(f(x, 0.0).norm(dim=1), 1.5 * x.norm(dim=1))
    for t in (0.3, 1.0):
        assert torch.allclose(f.flow(x, t).norm(dim=1), x.norm(dim=1))
        num = F.solvers.solve(f, x, method="rk4", n_steps=50, t1=t).x
        assert torch.allclose(num.norm(dim=1), x.norm(dim=1), atol=1e-8)
    # rotation by omega t: the angle of (1, 0) after t = 1 is 1.5
    p = f.flow(torch.tensor([[1.0, 0.0]], dtype=torch.float64), 1.0)[0]
    assert math.isclose(math.atan2(p[1], p[0]), 1.5, abs_tol=1e-12)


def test_sink_source_and_mover_closed_forms():
    x = _points()
    assert torch.allclose(FL.sink(2.0).flow(x, 0.5), math.exp(-1.0) * x)
    assert torch.allclose(FL.source(2.0).flow(x, 0.5), math.exp(1.0) * x)
    m = FL.MassMover(start=(-1.0, 0.0), end=(2.0, 1.0), rate=1.0)
    a = torch.tensor([[-1.0, 0.0]], dtype=torch.float64)
    for t in (0.0, 0.5, 1.0):  # the start point rides the centre c_t, which moves at velocity b - a
        assert torch.allclose(m.flow(a, t), m.centre(t).double())
        assert torch.allclose(
            m(m.centre(t).double(), t), torch.tensor([[3.0, 1.0]], dtype=torch.float64)
        )


def test_linear_field_flow_is_matrix_exponential():
    a = torch.tensor([[0.3, -1.0], [0.7, -0.2]], dtype=torch.float64)
    f, x = FL.LinearField(a), _points()
    assert torch.allclose(f.flow(x, 0.8), x @ torch.linalg.matrix_exp(0.8 * a).T)
    t = torch.rand(64, 1, dtype=torch.float64)  # one time per point
    assert torch.allclose(f.flow(x, t)[3], torch.linalg.matrix_exp(t[3, 0] * a) @ x[3])


def test_field_input_validation():
    f = FL.rotation()
    with pytest.raises(ValueError, match="x: expected"):
        f(torch.zeros(3, 3), 0.0)
    with pytest.raises(ValueError, match="t: expected"):
        f(torch.zeros(3, 2), torch.zeros(2))
    with pytest.raises(ValueError, match="matrix"):
        FL.LinearField(torch.eye(3))
    with pytest.raises(ValueError, match="name"):
        FL.get_field("vortex")
    with pytest.raises(ValueError, match="std_q"):
        FL.gaussian_kl(0.0, 1.0, 0.0, -1.0)


def test_path_length_and_kinetic_energy():
    times = torch.linspace(0, 1, 11)
    x0, x1 = torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]])
    line = (1 - times)[:, None, None] * x0 + times[:, None, None] * x1
    assert torch.allclose(FL.path_length(line), torch.tensor([5.0]))
    assert torch.allclose(FL.kinetic_energy(line, times), torch.tensor([25.0]))
    # same path at uneven speed: same length, more energy
    slow = x0 + (times**2)[:, None, None] * (x1 - x0)
    assert torch.allclose(FL.path_length(slow), torch.tensor([5.0]))
    assert FL.kinetic_energy(slow, times) > 25.0 * 1.2


def test_gaussian_kl_and_likelihood_identity():
    assert float(FL.gaussian_kl(0.3, 0.7, 0.3, 0.7)) == 0.0
    assert math.isclose(float(FL.gaussian_kl(0.0, 1.0, 1.0, 1.0)), 0.5)
    x = 1.0 + 0.6 * torch.randn(
        200_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    c = -0.5 * math.log(2 * math.pi * math.e * 0.36)
    for mu, std in ((-1.0, 1.5), (1.0, 0.6), (2.0, 0.3)):
        ll = float(FL.gaussian_log_likelihood(x, mu, std))
        assert math.isclose(ll + float(FL.gaussian_kl(1.0, 0.6, mu, std)), c, abs_tol=0.02)


def test_grid_lines():
    g = FL.grid_lines((-1.0, 1.0), n_lines=3, n_points=5)
    assert g.shape == (6, 5, 2)
    assert torch.allclose(g[0, :, 1], torch.full((5,), -1.0)) and torch.allclose(
        g[0, :, 0], torch.linspace(-1, 1, 5)
    )
    assert torch.allclose(g[5, :, 0], torch.full((5,), 1.0))


# ------------------------------------------------------------------------------------------ widgets


def test_mle_explorer_recomputes():
    live = FL.mle_explorer()
    before = live.image.value
    assert bytes(before).startswith(PNG) and live.last_error is None
    live.controls["mu"].value = 1.0
    assert live.image.value != before and live.calls == 2
    st = live.state
    assert math.isclose(
        st["L"], float(FL.gaussian_log_likelihood(live.data, 1.0, 1.5)), rel_tol=1e-12
    )
    assert math.isclose(st["kl"], float(FL.gaussian_kl(1.0, 0.6, 1.0, 1.5)), rel_tol=1e-12)
    assert abs(st["L"] + st["kl"] - st["C"]) < 0.05
    assert "KL" in live.text.value


def test_field_explorer_recomputes():
    live = FL.field_explorer()
    before = live.image.value
    live.controls["name"].value = "sink"
    assert live.image.value != before
    assert live.state["div_autograd"] == pytest.approx(-2.0) and live.state[
        "div_exact"
    ] == pytest.approx(-2.0)
    live.controls["name"].value = "rotation_to_sink"
    at0 = live.image.value
    live.controls["t"].value = 0.5
    assert live.image.value != at0 and live.state["div_exact"] == pytest.approx(-2.0)
    live.controls["particles"].value = True
    assert live.last_error is None and bytes(live.image.value).startswith(PNG)


def test_flow_explorer_error_shrinks_with_steps():
    live = FL.flow_explorer()
    errs = {}
    for method in ("euler", "midpoint", "rk4"):
        live.controls["method"].value = method
        for n in (5, 10):
            before = live.image.value
            live.controls["n_steps"].value = n
            errs[method, n] = live.state["error"]
            assert live.last_error is None
    assert errs["euler", 10] < errs["euler", 5] and errs["midpoint", 10] < errs["midpoint", 5]
    assert errs["rk4", 10] < errs["midpoint", 10] < errs["euler", 10]
    assert (
        1.6 < errs["euler", 5] / errs["euler", 10] < 2.6
    )  # first order: halving h halves the error
    assert 3.0 < errs["midpoint", 5] / errs["midpoint", 10] < 5.5  # second order
    assert live.state["nfe"] == 40 and live.image.value != before
    # the reported error is the distance to the closed-form flow
    f = FL.get_field("spiral")
    x0 = torch.tensor([[2.6 * math.cos(0.3), 2.6 * math.sin(0.3)]], dtype=torch.float64)
    sol = F.solvers.solve(f, x0, method="rk4", n_steps=10)
    assert (sol.x - f.flow(x0, 1.0)).norm() <= live.state["error"] * (1 + 1e-6)


def test_path_explorer_matches_samples():
    live = FL.path_explorer(n=3000)
    before = live.image.value
    live.controls["t"].value = 0.8
    assert live.image.value != before and live.state["t"] == 0.8
    assert abs(live.state["mass"] - 1) < 1e-3
    assert live.state["l1"] < 0.2  # the histogram of t X1 + (1 - t) X0 follows the exact p_t
    live.controls["t"].value = 0.0
    assert abs(live.state["mass"] - 1) < 1e-3 and live.state["l1"] < 0.2


# ------------------------------------------------------------------------------------------ animations


def test_transport_frames():
    demo = FL.transport_frames(n=30, n_frames=4, substeps=2)
    assert len(demo.frames) == 4 and all(f.startswith(PNG) for f in demo.frames)
    assert set(demo.trajectories) == {"diffusion (VP)", "flow matching", "FM + OT pairs"}
    x0 = demo.trajectories["flow matching"][0]
    for tr in demo.trajectories.values():
        assert tr.shape == (4, 30, 2) and torch.equal(tr[0], x0)
    ot = demo.trajectories["FM + OT pairs"]
    assert torch.allclose(
        FL.path_length(ot), (ot[-1] - ot[0]).norm(dim=1), atol=1e-5
    )  # straight lines
    # the OT pairing is no costlier than any other pairing of the same points (here: 20 random ones)
    g = torch.Generator().manual_seed(0)
    cost = ((ot[-1] - ot[0]) ** 2).sum()
    assert all(
        cost <= ((ot[-1][torch.randperm(30, generator=g)] - ot[0]) ** 2).sum() + 1e-5
        for _ in range(20)
    )


def test_flow_and_path_frames():
    demo = FL.flow_frames("rotation", n=20, n_frames=3)
    assert len(demo.frames) == 3 and demo.frames[0] != demo.frames[2]
    assert torch.allclose(demo.grid[0], FL.grid_lines(n_points=100))
    f = FL.get_field("rotation")
    assert torch.allclose(demo.particles[-1], f.flow(demo.particles[0], 1.0), atol=1e-3)
    assert torch.allclose(demo.grid[-1].norm(dim=-1), demo.grid[0].norm(dim=-1), atol=1e-3)
    other = FL.flow_frames(FL.sink(1.0), n=5, n_frames=2, grid_lim=(-1.0, 1.0), title="my sink")
    assert torch.allclose(other.grid[0], FL.grid_lines((-1.0, 1.0), n_points=100))
    assert torch.allclose(other.grid[-1], math.exp(-1.0) * other.grid[0], atol=1e-3)
    pd = FL.path_frames(n=50, n_frames=3, n_grid=20)
    assert len(pd.frames) == 3 and pd.trajectory.shape == (3, 50, 2)
    assert torch.allclose(pd.times, torch.tensor([0.0, 0.5, 1.0]))


# ------------------------------------------------------------------------------------------ exercises


def _euler_states(u, x0, n, time):
    xs, h = [x0], 1.0 / n
    for k in range(n):
        xs.append(xs[-1] + h * u(xs[-1], torch.tensor(time(k, h), dtype=x0.dtype)))
    return xs[1:]


def _todo(*args):
    raise NotImplementedError


@pytest.mark.parametrize(
    "check,reference,mistakes",
    [
        (
            E.check_gaussian_kl,
            E.reference_gaussian_kl,
            {
                "KL(q || p)": lambda mp, sp, mq, sq: E.reference_gaussian_kl(mq, sq, mp, sp),
                "ratio of standard deviations": lambda mp, sp, mq, sq: (
                    torch.log(sq**2 / sp**2) + (sp**2 + (mp - mq) ** 2) / (2 * sq**2) - 0.5
                ),
                "- 1/2 is missing": lambda mp, sp, mq, sq: (
                    E.reference_gaussian_kl(mp, sp, mq, sq) + 0.5
                ),
            },
        ),
        (
            E.check_rotation_field,
            E.reference_rotation_field,
            {
                "clockwise": lambda x, t: torch.stack([x[:, 1], -x[:, 0]], 1),
                "saddle": lambda x, t: torch.stack([x[:, 1], x[:, 0]], 1),
                "sink": lambda x, t: -x,
                "source": lambda x, t: x,
            },
        ),
        (
            E.check_sample_xt,
            E.reference_sample_xt,
            {
                "time is reversed": lambda x0, x1, t: t * x0 + (1 - t) * x1,
                "variance": lambda x0, x1, t: t * x1 + (1 - t) ** 2 * x0,
                "shrink": lambda x0, x1, t: t * x1 + x0,
                "velocity": lambda x0, x1, t: x1 - x0,
            },
        ),
        (
            E.check_conditional_log_prob,
            E.reference_conditional_log_prob,
            {
                "mean of p_{t|1}": lambda x, x1, t: E.reference_conditional_log_prob(x, x1 / t, t),
                "normalising constant": lambda x, x1, t: (
                    E.reference_conditional_log_prob(x, x1, t)
                    + x.shape[1] / 2 * math.log(2 * math.pi)
                ),
                "one log(1 - t) per coordinate": lambda x, x1, t: (
                    E.reference_conditional_log_prob(x, x1, t)
                    + (x.shape[1] / 2) * torch.log(1 - t[:, 0])
                ),
            },
        ),
        (
            E.check_euler_solver,
            E.reference_euler_solver,
            {
                "step number k": lambda u, x0, n: torch.stack(
                    [x0] + _euler_states(u, x0, n, lambda k, h: float(k))
                ),
                "at its start time": lambda u, x0, n: torch.stack(
                    [x0] + _euler_states(u, x0, n, lambda k, h: (k + 1) * h)
                ),
                "return every state": lambda u, x0, n: E.reference_euler_solver(u, x0, n)[-1],
                "must start with x0": lambda u, x0, n: E.reference_euler_solver(u, x0, n)[1:],
            },
        ),
    ],
)
def test_exercise_checks(check, reference, mistakes):
    assert check(reference, verbose=False).passed
    assert check(_todo, verbose=False).status == "todo"
    for words, wrong in mistakes.items():
        res = check(wrong, verbose=False)
        assert not res.passed and res.status == "mistake" and words in res.message, (
            words,
            res.message,
        )


def test_conditional_log_prob_reference_is_exact():
    x, x1 = _points(6), _points(1, 1)
    t = torch.full((6, 1), 0.35, dtype=torch.float64)
    want = torch.distributions.Normal(0.35 * x1, 0.65).log_prob(x).sum(1)
    assert torch.allclose(E.reference_conditional_log_prob(x, x1.expand(6, 2), t), want)
    assert torch.allclose(F.exact.marginal_log_prob(x, 0.35, x1), want)


def test_sample_xt_reference_is_the_conditional_path():
    x0, x1 = _points(5), _points(5, 1)
    t = torch.full((5, 1), 0.3, dtype=torch.float64)
    ps = F.paths.AffinePath("condot").sample(x0, x1, t)
    assert torch.allclose(E.reference_sample_xt(x0, x1, t), ps.x_t)
