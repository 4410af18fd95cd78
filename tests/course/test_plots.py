"""fmtutor.course.plots: the grid, the arrows, the points and the heat map are where the numbers say."""

import io

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image

from fmtutor.course import plots


def _ax():
    return Figure().add_subplot()


def test_grid_points_cover_the_box_row_major_in_y():
    pts = plots.grid_points((-1.0, 1.0), (0.0, 4.0), n=3)
    assert pts.shape == (9, 2)
    assert torch.equal(pts[:3, 0], torch.tensor([-1.0, 0.0, 1.0])) and torch.equal(
        pts[:3, 1], torch.zeros(3)
    )
    assert torch.equal(pts[-1], torch.tensor([1.0, 4.0]))  # the last row is the top edge
    assert torch.equal(
        plots.grid_points((-2.0, 2.0), n=2),
        torch.tensor([[-2.0, -2.0], [2.0, -2.0], [-2.0, 2.0], [2.0, 2.0]]),
    )


def test_quiver_draws_unit_arrows_along_the_field_coloured_by_speed():
    ax = plots.quiver(
        lambda x, t: torch.stack([2 * x[:, 0], torch.zeros(len(x))], 1) + t,
        t=0.0,
        ax=_ax(),
        xlim=(1.0, 2.0),
        n=3,
    )
    (q,) = ax.collections
    assert np.allclose(q.U, 1.0) and np.allclose(q.V, 0.0)  # normalised: the direction of (2 x, 0)
    assert np.allclose(q.get_array(), 2 * plots.grid_points((1.0, 2.0), n=3)[:, 0].numpy())
    assert ax.get_xlim() == (1.0, 2.0) and ax.get_aspect() == 1.0


def test_scatter_and_trajectories_put_the_points_where_they_are():
    x = torch.tensor([[0.5, -1.0], [2.0, 0.25]], dtype=torch.float64)
    ax = plots.scatter(x, ax=_ax(), title="pts")
    assert np.allclose(ax.collections[0].get_offsets(), x.numpy()) and ax.get_title() == "pts"
    traj = torch.stack([x, 2 * x, 3 * x])
    ax = plots.trajectories(traj, ax=_ax(), n=1)
    assert len(ax.lines) == 1 and np.allclose(ax.lines[0].get_xydata(), traj[:, 0].numpy())
    start, end = ax.collections
    assert np.allclose(start.get_offsets(), x[:1].numpy()) and np.allclose(
        end.get_offsets(), 3 * x[:1].numpy()
    )


def test_density_shows_exp_log_prob_on_the_grid():
    def log_prob(x):
        return -(x**2).sum(1)

    ax = plots.density(log_prob, ax=_ax(), xlim=(-1.0, 1.0), n=5)
    (im,) = ax.images
    pts = plots.grid_points((-1.0, 1.0), n=5)
    assert np.allclose(im.get_array(), torch.exp(log_prob(pts)).reshape(5, 5).numpy())
    log_ax = plots.density(log_prob, ax=_ax(), xlim=(-1.0, 1.0), n=5, log=True)
    assert np.allclose(log_ax.images[0].get_array(), log_prob(pts).reshape(5, 5).numpy())


@pytest.mark.parametrize("dpi", [20, 50])
def test_figure_png_has_figsize_times_dpi_pixels(dpi):
    fig = Figure(figsize=(3, 2))
    png = plots.figure_png(fig, dpi=dpi)
    assert png.startswith(b"\x89PNG") and Image.open(io.BytesIO(png)).size == (3 * dpi, 2 * dpi)


def test_new_axes_returns_the_given_axes():
    ax = _ax()
    assert plots.new_axes(ax) is ax
    assert plots.style_axes(ax, (0.0, 1.0), title="t").get_ylim() == (0.0, 1.0)
