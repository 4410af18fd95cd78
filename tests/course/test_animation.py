"""fmtutor.course.animation: particles with trails, frames rendered in order, colours by angle."""

import io

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from fmtutor.course import animation


def test_trails_show_the_particles_at_step_k_and_their_paths_so_far():
    traj = np.cumsum(np.ones((4, 3, 2)), 0)  # (T + 1, B, 2): particle i at (k + 1, k + 1)
    ax = Figure().add_subplot()
    trails = animation.Trails(ax, traj, animation.angle_colors(traj[-1]), (-1.0, 5.0))
    trails.show(2, "t = 0.67")
    assert np.allclose(trails.dots.get_offsets(), traj[2]) and ax.get_title() == "t = 0.67"
    segments = trails.lines.get_segments()
    assert len(segments) == 3 and all(np.allclose(s, traj[:3, i]) for i, s in enumerate(segments))
    trails.show(0, "start")
    assert trails.lines.get_segments() == []


def test_no_ticks_removes_ticks_and_optionally_keeps_labels():
    ax = Figure().add_subplot()
    ax.set(xlabel="x", ylabel="y")
    animation.no_ticks(ax, keep_labels=True)
    assert list(ax.get_xticks()) == [] and list(ax.get_yticks()) == [] and ax.get_xlabel() == "x"
    animation.no_ticks(ax)
    assert ax.get_xlabel() == "" and ax.get_ylabel() == ""


def test_render_frames_of_calls_update_in_order_and_returns_one_png_per_frame():
    fig = Figure(figsize=(2, 2))
    ax = fig.add_subplot()
    (line,) = ax.plot([0, 1], [0, 0])
    seen = []

    def update(i):
        seen.append(i)
        line.set_ydata([0, i])

    frames = animation.render_frames_of(fig, update, 3, dpi=20)
    assert seen == [0, 1, 2] and len(frames) == 3 and len(set(frames)) == 3
    assert all(Image.open(io.BytesIO(f)).size == (40, 40) for f in frames)


def test_angle_colors_depend_on_the_polar_angle_only():
    end = np.array([[1.0, 1.0], [3.0, 3.0], [-1.0, 0.0], [0.0, -2.0]])
    colors = animation.angle_colors(end)
    assert colors.shape == (4, 4)
    assert np.allclose(colors[0], colors[1])  # same direction, other radius: same colour
    assert not np.allclose(colors[0], colors[3])
