"""fmtutor.course.ch02: the flow explorer, the flow animation, grid lines and the Euler exercises."""

import math
import sys

import pytest
import torch

import fmtutor as fm
from fmtutor.course import ch02

_live = sys.modules["fmtutor_tests_live"]  # tests/_live.py, loaded by conftest.py
_pixels, _fresh_picture = _live.pixels, _live.fresh_picture

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_flow_explorer_error_shrinks_with_steps():
    live = ch02.flow_explorer()
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
    f = fm.fields.get_field("spiral")
    x0 = torch.tensor([[2.6 * math.cos(0.3), 2.6 * math.sin(0.3)]], dtype=torch.float64)
    sol = fm.solvers.solve(f, x0, method="rk4", n_steps=10)
    assert (sol.x - f.flow(x0, 1.0)).norm() <= live.state["error"] * (1 + 1e-6)


def test_grid_lines():
    g = ch02.grid_lines((-1.0, 1.0), n_lines=3, n_points=5)
    assert g.shape == (6, 5, 2)
    assert torch.allclose(g[0, :, 1], torch.full((5,), -1.0)) and torch.allclose(
        g[0, :, 0], torch.linspace(-1, 1, 5)
    )
    assert torch.allclose(g[5, :, 0], torch.full((5,), 1.0))


def test_flow_frames():
    demo = ch02.flow_frames("rotation", n=20, n_frames=3)
    assert len(demo.frames) == 3 and demo.frames[0] != demo.frames[2]
    assert torch.allclose(demo.grid[0], ch02.grid_lines(n_points=100))
    f = fm.fields.get_field("rotation")
    assert torch.allclose(demo.particles[-1], f.flow(demo.particles[0], 1.0), atol=1e-3)
    assert torch.allclose(demo.grid[-1].norm(dim=-1), demo.grid[0].norm(dim=-1), atol=1e-3)
    other = ch02.flow_frames(
        fm.fields.sink(1.0), n=5, n_frames=2, grid_lim=(-1.0, 1.0), title="my sink"
    )
    assert torch.allclose(other.grid[0], ch02.grid_lines((-1.0, 1.0), n_points=100))
    assert torch.allclose(other.grid[-1], math.exp(-1.0) * other.grid[0], atol=1e-3)


def _euler_states(u, x0, n, time):
    xs, h = [x0], 1.0 / n
    for k in range(n):
        xs.append(xs[-1] + h * u(xs[-1], torch.tensor(time(k, h), dtype=x0.dtype)))
    return xs[1:]


def _todo(*args):
    raise NotImplementedError


SOLVER_MISTAKES = {
    "step number k": lambda u, x0, n: torch.stack(
        [x0] + _euler_states(u, x0, n, lambda k, h: float(k))
    ),
    "at its start time": lambda u, x0, n: torch.stack(
        [x0] + _euler_states(u, x0, n, lambda k, h: (k + 1) * h)
    ),
    "return every state": lambda u, x0, n: ch02.reference_euler_solver(u, x0, n)[-1],
    "must start with x0": lambda u, x0, n: ch02.reference_euler_solver(u, x0, n)[1:],
}


def test_exercise_euler_solver():
    check, reference = ch02.check_euler_solver, ch02.reference_euler_solver
    assert check(reference, verbose=False).passed
    assert check(_todo, verbose=False).status == "todo"
    for words, wrong in SOLVER_MISTAKES.items():
        res = check(wrong, verbose=False)
        assert not res.passed and res.status == "mistake" and words in res.message, (
            words,
            res.message,
        )


def test_euler_solver_reference_is_the_package_solver():
    x0 = torch.randn(4, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    f = fm.fields.get_field("spiral")
    sol = fm.solvers.solve(f, x0, method="euler", n_steps=6, return_trajectory=True)
    assert torch.allclose(ch02.reference_euler_solver(f, x0, 6), sol.trajectory)


# typical mistakes of the Euler step, each with words its hint must contain
TYPICAL = [
    ("increment only", lambda u, x, t, h: h * u(x, t), "increment"),
    ("end time", lambda u, x, t, h: x + h * u(x, t + h), "start time"),
    ("no h", lambda u, x, t, h: x + u(x, t), "step size"),
]


@pytest.mark.parametrize("label,wrong,words", TYPICAL, ids=[row[0] for row in TYPICAL])
def test_typical_euler_step_mistakes_get_specific_hints(label, wrong, words):
    res = ch02.check_euler_step(wrong, verbose=False)
    assert not res.passed, f"euler_step: {label} passed"
    assert words.lower() in res.message.lower(), f"{label}: hint {res.message!r} lacks {words!r}"


def _drawn_particles(live, m):
    """The particles a LivePlot drew last: the last m offsets of its one scatter."""
    from matplotlib.collections import PathCollection

    (dots,) = [c for c in live.fig.axes[0].collections if isinstance(c, PathCollection)]
    return torch.as_tensor(dots.get_offsets()[-m:], dtype=torch.float64)


def _fresh_solve(f, x0, method, n_steps, t):
    """A new solve from 0 to t on the grid times k / n_steps <= t, then t itself."""
    grid = torch.linspace(0, 1, n_steps + 1, dtype=torch.float64)
    grid = grid[grid <= t]
    if grid[-1] != t:
        grid = torch.cat([grid, torch.tensor([t], dtype=torch.float64)])
    return x0 if len(grid) == 1 else fm.solvers.solve(f, x0, method, time_grid=grid).x


SETTINGS = [  # field, method, steps, t: on the grid, between grid times, at both ends
    ("spiral", "euler", 4, 0.5),
    ("spiral", "rk4", 3, 0.37),
    ("rotation_to_sink", "midpoint", 7, 0.93),
    ("mover", "euler", 5, 0.01),
    ("source", "midpoint", 2, 1.0),
    ("sink", "rk4", 6, 0.0),
]


@pytest.mark.parametrize("name,method,n_steps,t", SETTINGS)
def test_trajectory_explorer_draws_a_fresh_solve_at_t(name, method, n_steps, t):
    live = ch02.trajectory_explorer()
    for k, v in (("name", name), ("method", method), ("n_steps", n_steps), ("t", t)):
        live.controls[k].value = v
        assert live.last_error is None, live.last_error
    f = fm.fields.get_field(name)
    z = torch.randn(16, 2, generator=torch.Generator().manual_seed(0)).double()
    x0 = 0.5 * z + f.start.double() if name == "mover" else 0.8 * z
    fresh = _fresh_solve(f, x0, method, n_steps, t)
    assert torch.allclose(_drawn_particles(live, 16), fresh, atol=1e-12, rtol=0)
    err = (fresh - f.flow(x0, t)).norm(dim=1).max().item()
    assert live.state["error"] == pytest.approx(err, abs=1e-12)


def test_trajectory_explorer_solves_once_per_setting_and_moves_along_it():
    live = ch02.trajectory_explorer()
    paths = live.paths["spiral"]
    assert paths.solves == 1
    for t in (0.1, 0.33, 0.9, 0.5):
        live.controls["t"].value = t
    assert paths.solves == 1, "moving t must not solve again"
    live.controls["n_steps"].value = 9
    live.controls["n_steps"].value = 4
    assert paths.solves == 2, (
        "a new number of steps is solved once, a seen one comes from the cache"
    )
    # Euler between grid times: on the straight segment between the two grid states
    sol = paths.solution("spiral", fm.fields.get_field("spiral"), "euler", 4)
    live.controls["t"].value = 0.6
    lam = (0.6 - 0.5) / 0.25
    seg = (1 - lam) * sol.trajectory[2] + lam * sol.trajectory[3]
    assert torch.allclose(_drawn_particles(live, 16), seg, atol=1e-12)
    # a new method with the same steps is a new solve too, drawn as a fresh solve gives it
    live.controls["method"].value = "midpoint"
    assert paths.solves == 3
    f, x0 = fm.fields.get_field("spiral"), paths.x0
    fresh = _fresh_solve(f, x0, "midpoint", 4, 0.6)
    assert torch.allclose(_drawn_particles(live, 16), fresh, atol=1e-12)
    # RK4 with 30 steps is on the exact flow; Euler with 4 is not
    live.controls["method"].value = "rk4"
    live.controls["n_steps"].value = 30
    live.controls["t"].value = 0.77
    assert live.state["error"] < 1e-6
    live.controls["method"].value = "euler"
    live.controls["n_steps"].value = 4
    assert live.state["error"] > 0.1


def test_trajectory_explorer_t_slider_recomputes_across_a_sweep_and_back():
    """Dragging t (small steps, a jump across the range, back to a value seen before): at every
    value the particles, the solver's paths and the exact rings are those of a new solve at that t,
    and the picture shown is the one those artists make (a new LivePlot's at the same values)."""
    import numpy as np
    from matplotlib.collections import LineCollection

    live = ch02.trajectory_explorer()
    live.controls["method"].value, live.controls["n_steps"].value = "rk4", 3
    solves = live.paths["spiral"].solves
    f = fm.fields.get_field("spiral")
    x0 = 0.8 * torch.randn(16, 2, generator=torch.Generator().manual_seed(0)).double()
    shown = _pixels(live.image.value)
    for t in (0.51, 0.52, 0.99, 0.0, 0.37, 0.51, 1.0):  # 0.99 -> 0.0: a jump across the range
        live.controls["t"].value = t
        assert live.last_error is None, live.last_error
        grid = torch.linspace(0, 1, 4, dtype=torch.float64)
        grid = grid[grid <= t]
        if grid[-1] != t:
            grid = torch.cat([grid, torch.tensor([t], dtype=torch.float64)])
        fresh = (
            x0[None]
            if len(grid) == 1
            else fm.solvers.solve(f, x0, "rk4", time_grid=grid, return_trajectory=True).trajectory
        )
        assert torch.allclose(_drawn_particles(live, 16), fresh[-1], atol=1e-12, rtol=0), t
        ax = live.fig.axes[0]
        exact_lc, solver_lc = [c for c in ax.collections if isinstance(c, LineCollection)]
        drawn = torch.as_tensor(np.stack(solver_lc.get_segments()))  # (16, k + 2, 2)
        assert torch.allclose(drawn[:, : len(fresh)], fresh.transpose(0, 1), atol=1e-12), t
        assert torch.allclose(drawn[:, -1], fresh[-1], atol=1e-12), t
        exact_end = torch.as_tensor(np.stack(exact_lc.get_segments()))[:, -1]
        (rings,) = ax.lines
        ring_xy = torch.as_tensor(np.stack(rings.get_data(), 1))
        assert torch.allclose(ring_xy, f.flow(x0, t), atol=1e-12), t
        assert torch.allclose(exact_end, f.flow(x0, t), atol=1e-12), t
        assert f"t = {t:.2f}" in live.text.value and live.state["t"] == t
        now = _pixels(live.image.value)
        assert not np.array_equal(now, shown), f"t = {t}: the picture did not change"
        assert np.array_equal(now, _fresh_picture(live)), f"t = {t}: picture is not the drawing"
        shown = now
    assert live.paths["spiral"].solves == solves, "t moves along the one solve: no new solve"
