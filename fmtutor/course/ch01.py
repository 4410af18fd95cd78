"""Chapter 1 (vector fields): the field explorer and the rotation-field exercise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as W
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from fmtutor.course.exercises import ExerciseResult, check_function
from fmtutor.course.i18n import tr
from fmtutor.course.plots import color_key, grid_points, quiver
from fmtutor.course.widgets import LivePlot
from fmtutor.fields import FIELDS, MassMover, get_field, rotation
from fmtutor.likelihood import divergence_exact as divergence

__all__ = ["reference_rotation_field", "check_rotation_field", "field_explorer"]

Lim = tuple[float, float]
#: field_explorer's colours follow speed^SPEED_GAMMA (one scale for fields 3x apart in speed).
SPEED_GAMMA = 0.5


def reference_rotation_field(x: Tensor, t: Tensor) -> Tensor:
    """The counter-clockwise rotation u(x) = (-x2, x1): ``fmtutor.fields.rotation(1.0)``.

    x of shape (B, 2); t is unused (the field does not change in time).
    """
    return rotation(1.0)(x, t)


def check_rotation_field(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check u(x, t) = (-x2, x1): the counter-clockwise rotation with angular speed 1."""
    g = torch.Generator().manual_seed(5)
    cases = [
        (torch.randn(7, 2, generator=g), torch.tensor(0.3)),
        (torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor(0.0)),
    ]
    mistakes = {
        tr("your field turns clockwise: counter-clockwise is u(x) = (-x2, x1)."): lambda x, t: (
            torch.stack([x[:, 1], -x[:, 0]], 1)
        ),
        tr(
            "(x2, x1) swaps the coordinates without the sign: that is a saddle, not a rotation "
            "(check x . u(x) = 0)."
        ): lambda x, t: torch.stack([x[:, 1], x[:, 0]], 1),
        tr(
            "(-x1, -x2) = -x points to the origin: that is a sink. "
            "A rotation is perpendicular to x."
        ): lambda x, t: -x,
        tr(
            "you returned x itself: that is a source. A rotation is perpendicular to x."
        ): lambda x, t: x,
    }
    return check_function(student, reference_rotation_field, cases, mistakes, verbose=verbose)


def field_explorer(
    names: "list[str] | None" = None, lim: Lim = (-3.0, 3.0), n_particles: int = 9
) -> LivePlot:
    """A field picker, a time slider and a "particles" switch over a quiver plot of u_t.

    The text under the plot reports the divergence at the origin twice: by autograd and in closed
    form. With particles on, a 9 x 9 grid of points (around the origin; around the start a for the
    mover) is carried by the exact flow to time t: where the mass has gone by time t.
    The arrows' colour scale is one for every field and time offered (up to the highest speed on
    the plotted grid), so colours compare across them and a change redraws only the plot's
    content; colours follow the square root of the speed (SPEED_GAMMA), so the slowest field
    still spans half the colour map. ``live.state`` holds the field, t and both divergences.
    """
    names = list(FIELDS) if names is None else names
    fields = {nm: get_field(nm) for nm in names}
    side = torch.linspace(-1.5, 1.5, n_particles)
    gy, gx = torch.meshgrid(side, side, indexing="ij")
    start = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)
    state: dict[str, Any] = {}
    t_slider = W.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.05, description="t")
    grid = grid_points(lim, None, 17)  # the arrows' grid (quiver's, n=17)
    times = np.linspace(t_slider.min, t_slider.max, 21).tolist()  # every value of the slider
    with torch.no_grad():
        top = max(float(f(grid, s).norm(dim=1).max()) for f in fields.values() for s in times)

    def draw(fig: Figure, name: str, t: float, particles: bool) -> str:
        ax, key = fig.axes
        f = fields[name]
        quiver(f, t, ax=ax, xlim=lim, n=17, clim=(0.0, top), gamma=SPEED_GAMMA)
        ax.set_anchor("W")  # the square plot at the left of its box: a narrow gap to the key
        color_key(key, (0.0, top), label=tr("speed $|u_t(x)|$"), gamma=SPEED_GAMMA)
        if particles:
            p = f.flow(start + (f.start if isinstance(f, MassMover) else 0), t).numpy()
            ax.scatter(
                p[:, 0], p[:, 1], s=14, color="#D55E00", zorder=3, label=tr(r"$\psi_t$(grid)")
            )
            ax.set_xlim(*lim), ax.set_ylim(*lim)
        if isinstance(f, MassMover):
            c = f.centre(t)[0].numpy()
            ax.plot(*c, marker="*", ms=14, color="black", zorder=4)
        # a fixed line spacing: every title as tall as any other, so the layout never moves
        title = f"{name}: $u_t(x)$ = {f.formula}\n$t$ = {t:.2f}"
        ax.set_title(title, fontsize=10, linespacing=1.2)
        origin = torch.zeros(1, 2)
        d_auto, d_exact = float(divergence(f, origin, t)[0]), float(f.divergence(origin, t)[0])
        state.update(name=name, t=t, div_autograd=d_auto, div_exact=d_exact)
        return tr(
            "divergence at the origin: autograd {d_auto:+.3f}, closed form {d_exact:+.3f}",
            d_auto=d_auto,
            d_exact=d_exact,
        )

    controls = {
        "name": W.Dropdown(options=names, value=names[0], description=tr("field")),
        "t": t_slider,
        "particles": W.Checkbox(value=False, description=tr("particles")),
    }
    live = LivePlot(
        draw, controls, figsize=(4.9, 4.4), ncols=2, width_ratios=(1, 0.035), fixed_frame=True
    )
    live.state = state  # type: ignore[attr-defined]
    return live
