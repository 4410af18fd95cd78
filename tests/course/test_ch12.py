"""fmtutor.course.ch12: the sphere and torus plots, the rotating-sphere widget, the two exercises."""

import math

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from fmtutor import manifolds as M
from fmtutor.course import ch12

S2 = M.Sphere()


def _unit(z):
    return z / z.norm(dim=-1, keepdim=True)


def test_exercise_sphere_log():
    assert ch12.check_sphere_log(ch12.reference_sphere_log, verbose=False)
    assert ch12.check_sphere_log(S2.log, verbose=False)

    def v(x, y):
        return y - (x * y).sum(-1, keepdim=True) * x

    def theta(x, y):
        return torch.arccos((x * y).sum(-1, keepdim=True).clamp(-1, 1))

    wrong = {
        "chord": lambda x, y: y - x,
        "sin(theta)": v,
        "unit vector": lambda x, y: _unit(v(x, y)),
        "direction is y itself": lambda x, y: theta(x, y) * _unit(y),
        "sign is flipped": lambda x, y: -S2.log(x, y),
    }
    for key, fn in wrong.items():
        res = ch12.check_sphere_log(fn, verbose=False)
        assert not res and key in res.message, (key, res.message)
    # the textbook formula theta / sin(theta) * v is right
    assert ch12.check_sphere_log(
        lambda x, y: theta(x, y) / torch.sin(theta(x, y)) * v(x, y), verbose=False
    )


def test_exercise_sphere_step():
    assert ch12.check_sphere_step(ch12.reference_sphere_step, verbose=False)
    wrong = {
        "Euclidean Euler": lambda x, v, h: x + h * v,
        "not projected first": lambda x, v, h: _unit(x + h * v),
        "was not projected": lambda x, v, h: S2.exp(x, h * v),
        "step size h is missing": lambda x, v, h: S2.exp(x, S2.proju(x, v)),
        "close to the exp map": lambda x, v, h: _unit(x + h * S2.proju(x, v)),
    }
    for key, fn in wrong.items():
        res = ch12.check_sphere_step(fn, verbose=False)
        assert not res and key in res.message, (key, res.message)


def test_plot_torus_breaks_paths_where_they_wrap():
    a = torch.tensor([[6.0, 1.0]], dtype=torch.float64)
    b = torch.tensor([[0.5, 1.0]], dtype=torch.float64)  # the short way crosses the seam at 2 pi
    paths = torch.stack([M.FlatTorus().geodesic(a, b, s).x_t for s in np.linspace(0, 1, 11)])
    ax = ch12.plot_torus(b, Figure().add_subplot(), paths=paths, title="t")
    (line,) = ax.lines
    xs = line.get_xdata()
    assert np.isnan(xs).sum() == 1, "one break where the path wraps"
    assert np.nanmax(np.abs(np.diff(xs[~np.isnan(xs)]))) > math.pi  # the two pieces are apart
    assert ax.get_xlim() == (0, 2 * math.pi) and ax.get_title() == "t"
    with pytest.raises(ValueError, match="points"):
        ch12.plot_torus(torch.zeros(3, 3), Figure().add_subplot())


def test_sphere_plot_draws_the_points_in_3d():
    fig = Figure()
    ax = ch12.sphere_axes(fig, 30, 45, pos=(1, 2, 1))
    x = S2.uniform(7, seed=0)
    ch12.plot_sphere(x, ax)
    far, near = (np.stack(c._offsets3d, 1) for c in ax.collections[-2:])
    view = np.array(
        [
            np.cos(np.radians(30)) * np.cos(np.radians(45)),
            np.cos(np.radians(30)) * np.sin(np.radians(45)),
            np.sin(np.radians(30)),
        ]
    )
    assert len(far) + len(near) == 7 and (near @ view >= 0).all() and (far @ view < 0).all()
    assert np.allclose(np.sort(np.concatenate([far, near]), 0), np.sort(x.numpy(), 0))
    assert (ax.elev, ax.azim) == (30, 45)
    with pytest.raises(ValueError, match="points"):
        ch12.plot_sphere(torch.zeros(3, 2), ax)


def test_sphere_flow_widget_moves_with_t_and_turns():
    x0 = S2.uniform(30, seed=1, dtype=torch.float64)
    x1 = S2.uniform(30, seed=2, dtype=torch.float64)
    traj = torch.stack([S2.geodesic(x0, x1, s).x_t for s in np.linspace(0, 1, 5)])
    live = ch12.sphere_flow_widget(traj, S2.uniform(10, seed=3))
    assert live.stats["t"] == 1.0 and live.last_error is None and live.image.value
    live.controls["t"].value = 0.5
    assert live.stats["step"] == 2 and "step 2 of 4" in live.text.value
    drawn = np.concatenate([np.stack(c._offsets3d, 1) for c in live.fig.axes[0].collections[-2:]])
    assert np.allclose(np.sort(drawn, 0), np.sort(traj[2].numpy(), 0))
    assert live.stats["off_sphere"] < 1e-12
    live.controls["azimuth"].value = 100
    assert live.fig.axes[0].azim == 100 and live.calls == 3
    with pytest.raises(ValueError, match="traj"):
        ch12.sphere_flow_widget(torch.zeros(3, 4, 2))
