"""Chapter 11 (images on a CPU): digit grids, the digits explorer, the tiling exercise."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as W
import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.axes import Axes
from torch import Tensor, nn

from fmtutor._validate import check_finite, check_positive_int
from fmtutor.course.exercises import ExerciseResult, check_function, rerun, say
from fmtutor.course.i18n import tr
from fmtutor.course.plots import new_axes
from fmtutor.course.widgets import LivePlot
from fmtutor.digits import sample_digits
from fmtutor.images import SIDE, DigitClassifier, _check_batch, tile_images

__all__ = [
    "reference_tile_images",
    "check_tile_images",
    "image_grid",
    "show_grid",
    "show_mosaic",
    "digit_explorer",
]

Lim = tuple[float, float]


def _cases_tile() -> list[tuple[Tensor, int, int]]:
    g = torch.Generator().manual_seed(11)
    x = torch.randn(6, 64, generator=g) + torch.arange(64.0)  # every pixel position distinguishable
    return [(x, 2, 3), (x, 3, 2), (x[:4], 2, 2), (x[:3], 1, 3)]


def reference_tile_images(x: Tensor, rows: int, cols: int) -> Tensor:
    """Tile rows * cols flattened 8x8 images x (rows * cols, 64) into a (rows * 8, cols * 8) mosaic.

    Image k goes to grid row k // cols, grid column k % cols:
    mosaic[8 r + i, 8 c + j] = x[r * cols + c, 8 i + j]. This is images.tile_images.
    """
    return tile_images(x, rows, cols)


def check_tile_images(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check tile(x, rows, cols): (rows * cols, 64) -> (rows * 8, cols * 8).

    Image k must sit at grid row k // cols, grid column k % cols.
    """
    mistakes = {
        tr(
            "you reshaped straight to (rows * 8, cols * 8): that cuts the batch into strips, not "
            "images. Reshape to (rows, cols, 8, 8) and bring each image's pixel-row axis next to "
            "the grid-row axis with permute(0, 2, 1, 3)."
        ): lambda x, r, c: x.reshape(r * 8, c * 8),
        tr(
            "every image is transposed (mirrored on its diagonal): entry 8 i + j is pixel row i, "
            "column j, so reshape each vector to (8, 8) as is and keep the pixel axes in the order "
            "(i, j)."
        ): lambda x, r, c: x.reshape(r, c, 8, 8).permute(0, 3, 1, 2).reshape(r * 8, c * 8),
        tr(
            "the images run down the columns: image k belongs in grid row k // cols and column "
            "k % cols (fill row by row)."
        ): (lambda x, r, c: x.reshape(c, r, 8, 8).permute(1, 2, 0, 3).reshape(r * 8, c * 8)),
        tr(
            "wrong axis order after the reshape: permute (rows, cols, 8, 8) to (rows, 8, cols, 8), "
            "i.e. permute(0, 2, 1, 3)."
        ): (lambda x, r, c: x.reshape(r, c, 8, 8).permute(2, 0, 3, 1).reshape(r * 8, c * 8)),
    }
    result = check_function(student, reference_tile_images, _cases_tile(), mistakes, verbose=False)
    for x, r, c in _cases_tile() if result.status == "shape" else []:  # it returned: rerun it
        got = rerun(student, x, r, c)
        if isinstance(got, Tensor) and r != c and tuple(got.shape) == (c * 8, r * 8):
            result = ExerciseResult(
                False,
                tr(
                    "rows and columns are swapped: {r} rows of {c} images make a mosaic of shape "
                    "({r} * 8, {c} * 8) = ({r8}, {c8}), you returned {shape}.",
                    r=r,
                    c=c,
                    r8=r * 8,
                    c8=c * 8,
                    shape=tuple(got.shape),
                ),
                "mistake",
            )
            break
    if verbose:
        say(result)
    return result


def image_grid(
    x: Any, ncols: "int | None" = None, pad: int = 1, side: int = SIDE, fill: float = float("nan")
) -> np.ndarray:
    """Arrange B flattened images in a grid, ``pad`` pixels apart (a NumPy array for imshow).

    Image k sits at grid row k // ncols and grid column k % ncols; its top-left pixel is at
    (row * (side + pad), column * (side + pad)). Empty cells and the padding hold ``fill`` (NaN by
    default, drawn in the "bad" colour by show_grid).

    Args:
        x: images, shape (B, side * side).
        ncols: images per row (default: ceil(sqrt(B))).
        pad: pixels between images.
        side: image side length.
        fill: value of the padding and of empty cells.

    Returns:
        Array of shape (nrows * (side + pad) - pad, ncols * (side + pad) - pad), where
        nrows = ceil(B / ncols).
    """
    x = check_finite(_check_batch(x, "x", side), "x").detach().cpu().double().numpy()
    b = x.shape[0]
    if b == 0:
        raise ValueError("x: expected at least one image, got an empty batch")
    ncols = int(np.ceil(np.sqrt(b))) if ncols is None else check_positive_int(ncols, "ncols")
    pad = check_positive_int(pad, "pad", minimum=0)
    nrows = -(-b // ncols)
    step = side + pad
    out = np.full((nrows * step - pad, ncols * step - pad), fill, dtype=float)
    for k in range(b):
        r, c = divmod(k, ncols)
        out[r * step : r * step + side, c * step : c * step + side] = x[k].reshape(side, side)
    return out


def show_grid(
    x: Any,
    ncols: "int | None" = None,
    ax: "Axes | None" = None,
    title: "str | None" = None,
    row_labels: "Sequence[str] | None" = None,
    col_labels: "Sequence[str] | None" = None,
    pad: int = 1,
    side: int = SIDE,
    figsize: "tuple[float, float] | None" = None,
) -> Axes:
    """Draw flattened images as a grid (dark ink on white, clipped to [-1, 1]); return the Axes.

    Args:
        x: images, shape (B, side * side), in [-1, 1].
        ncols: images per row (default ceil(sqrt(B))).
        ax: where to draw (a new figure if None).
        title: the Axes title.
        row_labels, col_labels: text for each grid row / column (as tick labels), e.g. the class
            or the step.
        pad: pixels between images. side: image side.
        figsize: size of a new figure (when ax is None).
    """
    grid = image_grid(x, ncols, pad, side)
    b = _check_batch(x, "x", side).shape[0]
    ncols = int(np.ceil(np.sqrt(b))) if ncols is None else ncols
    nrows = -(-b // ncols)
    if ax is None:
        figsize = figsize or (0.55 * ncols + 0.8, 0.55 * nrows + 0.6)
    ax = new_axes(ax, figsize=figsize or (4.5, 4.5))
    _draw_grid(ax, grid)
    centres = lambda n: [i * (side + pad) + (side - 1) / 2 for i in range(n)]  # noqa: E731
    for labels, n, setter, ticks, what in (
        (row_labels, nrows, ax.set_yticks, ax.set_yticklabels, "row_labels"),
        (col_labels, ncols, ax.set_xticks, ax.set_xticklabels, "col_labels"),
    ):
        if labels is None:
            setter([])
            continue
        if len(labels) != n:
            raise ValueError(f"{what}: expected {n} labels, got {len(labels)}")
        setter(centres(n))
        ticks(list(labels))
    if title:
        ax.set_title(title)
    return ax


def _draw_grid(ax: Axes, grid: np.ndarray) -> None:
    """imshow a padded grid: dark ink on white, clipped to [-1, 1], the NaN padding in grey-blue."""
    cmap = colormaps["gray_r"].with_extremes(bad="#b8c4d6")
    ax.imshow(np.clip(grid, -1, 1), cmap=cmap, vmin=-1, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)


def show_mosaic(
    mosaic: Any,
    ax: "Axes | None" = None,
    title: "str | None" = None,
    side: int = SIDE,
    pad: int = 1,
    figsize: "tuple[float, float] | None" = None,
) -> Axes:
    """Draw a gapless mosaic of side x side images with ``pad`` pixels between them, as show_grid.

    The mosaic itself is drawn: after every ``side`` pixel rows and columns, ``pad`` rows and
    columns of padding (NaN, the grid's background colour) are inserted, so a mosaic that is tiled
    wrongly shows up exactly as it is, only with the gaps the other grids have.

    Args:
        mosaic: shape (rows * side, cols * side), e.g. from images.tile_images.
        ax: where to draw (a new figure if None). title: the Axes title.
        side: image side. pad: pixels between images.
        figsize: size of a new figure (when ax is None).

    Returns:
        The Axes.
    """
    m = torch.as_tensor(mosaic).detach().cpu().double()
    if m.ndim != 2 or m.shape[0] % side or m.shape[1] % side or m.numel() == 0:
        raise ValueError(
            f"mosaic: expected shape (rows * {side}, cols * {side}), got {tuple(m.shape)}"
        )
    check_finite(m, "mosaic")
    pad = check_positive_int(pad, "pad", minimum=0)
    rows, cols = m.shape[0] // side, m.shape[1] // side
    step = side + pad
    out = np.full((rows * step - pad, cols * step - pad), np.nan)
    for r in range(rows):
        for c in range(cols):
            block = m[r * side : (r + 1) * side, c * side : (c + 1) * side]
            out[r * step : r * step + side, c * step : c * step + side] = block.numpy()
    ax = new_axes(ax, figsize=figsize or (0.55 * cols + 0.8, 0.55 * rows + 0.6))
    _draw_grid(ax, out)
    if title:
        ax.set_title(title)
    return ax


def digit_explorer(
    model: nn.Module,
    classifier: "DigitClassifier | None" = None,
    digit: int = 3,
    w: float = 1.0,
    n_steps: int = 8,
    method: str = "midpoint",
    n: int = 16,
    seed: int = 0,
) -> Any:
    """A LivePlot that regenerates a 4x4 grid of digits when the class, w, steps or solver change.

    The noise x_0 is fixed (seed), so moving a slider shows the effect of that setting alone. The
    text under the grid gives the NFE and, with a classifier, how many digits it reads as the
    requested class. ``live.state`` holds the last images ('x'), predictions and settings.

    Args:
        model: class-conditional network. classifier: optional DigitClassifier.
        digit, w, n_steps, method: initial settings.
        n: number of digits (a square grid if n is a square).
        seed: seeds x_0.
    """
    n = check_positive_int(n, "n")
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"model: expected a class-conditional torch.nn.Module, got {type(model).__name__}"
        )
    ncols = int(np.ceil(np.sqrt(n)))
    # each control gets room: sliders a fixed 20em (a ~10em track after the label and the readout),
    # labels 6em; the row wraps rather than squeezing them (they had ~55 px tracks)
    room = {"style": {"description_width": "6em"}}

    def box() -> W.Layout:
        return W.Layout(width="20em", min_width="20em")

    controls = {
        "digit": W.IntSlider(
            value=digit, min=0, max=9, description=tr("digit"), layout=box(), **room
        ),
        "w": W.FloatSlider(
            value=w,
            min=0.0,
            max=5.0,
            step=0.25,
            description=tr("guidance w"),
            layout=box(),
            **room,
        ),
        "n_steps": W.IntSlider(
            value=n_steps, min=1, max=20, description=tr("steps"), layout=box(), **room
        ),
        "method": W.ToggleButtons(
            options=["euler", "midpoint"],
            value=method,
            description=tr("solver"),
            style={"description_width": "6em", "button_width": "6em"},
        ),
    }

    def draw(fig: Any, digit: int, w: float, n_steps: int, method: str) -> str:
        sol = sample_digits(
            model, torch.full((n,), digit), w, n_steps, method, seed=seed, return_solution=True
        )
        x = sol.x
        ax = show_grid(x, ncols, ax=fig.axes[0])
        ax.set_title(
            tr(
                "digit {digit}, w = {w:g}, {method} x {n_steps} (NFE {nfe})",
                digit=digit,
                w=w,
                method=method,
                n_steps=n_steps,
                nfe=sol.nfe,
            ),
            fontsize=10,
        )
        state.clear()
        state.update(x=x, digit=digit, w=w, n_steps=n_steps, method=method, nfe=sol.nfe)
        passes = sol.nfe * (1 if w == 1 else 2)
        msg = tr(
            "NFE = {nfe} velocity evaluations ({passes} network passes)", nfe=sol.nfe, passes=passes
        )
        if classifier is not None:
            pred = classifier.predict(x)
            state["pred"] = pred
            msg += tr(
                "; the classifier reads {k} of {n} as the digit {digit}",
                k=int((pred == digit).sum()),
                n=n,
                digit=digit,
            )
        return msg

    state: dict[str, Any] = {}
    live = LivePlot(draw, controls, figsize=(4.2, 4.4), dpi=80)
    live.state = state
    return live
