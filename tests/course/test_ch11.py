"""fmtutor.course.ch11: image grids, the digit explorer and the tiling exercise."""

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

import fmtutor as fm
from fmtutor.course import ch11

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_image_grid_puts_image_k_at_row_k_div_ncols_and_column_k_mod_ncols():
    b, ncols, pad = 7, 3, 2
    x = torch.arange(b, dtype=torch.float64)[:, None].repeat(1, 64)  # image k is all k
    x[:, 5] += 0.5  # pixel (0, 5) marks the orientation
    grid = ch11.image_grid(x, ncols=ncols, pad=pad)
    assert grid.shape == (3 * 10 - 2, 3 * 10 - 2)
    for k in range(b):
        r, c = divmod(k, ncols)
        block = grid[r * 10 : r * 10 + 8, c * 10 : c * 10 + 8]
        assert np.allclose(block, x[k].reshape(8, 8).numpy()), f"image {k} is not at ({r}, {c})"
        assert block[0, 5] == k + 0.5
    assert np.isnan(grid[8:10]).all() and np.isnan(grid[:, 8:10]).all(), (
        "padding rows/columns hold the fill value"
    )
    assert np.isnan(grid[20:, 10:]).all(), "the two empty cells after image 6 are fill"


def test_image_grid_without_padding_is_the_mosaic_of_tile_images():
    x = torch.randn(6, 64, generator=torch.Generator().manual_seed(0))
    m = fm.images.tile_images(x, 2, 3)
    assert torch.equal(m, ch11.reference_tile_images(x, 2, 3))
    assert np.allclose(ch11.image_grid(x, ncols=3, pad=0), m.numpy())


def test_show_grid_draws_the_clipped_grid_with_its_labels():
    x = torch.linspace(-2, 2, 4 * 64).reshape(4, 64)
    ax = ch11.show_grid(
        x, ncols=2, ax=Figure().add_subplot(), title="digits", col_labels=["a", "b"]
    )
    (image,) = ax.images
    assert np.allclose(
        image.get_array().filled(np.nan), np.clip(ch11.image_grid(x, 2), -1, 1), equal_nan=True
    )
    assert ax.get_title() == "digits" and [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
    with pytest.raises(ValueError, match="row_labels: expected 2 labels"):
        ch11.show_grid(x, ncols=2, ax=Figure().add_subplot(), row_labels=["only one"])


def test_show_mosaic_draws_the_mosaic_with_the_gaps_of_show_grid():
    noise = torch.randn(10, 64, generator=torch.Generator().manual_seed(0))
    x = torch.linspace(-1.5, 1.5, 10 * 64).reshape(10, 64) + 0.1 * noise
    drawn = lambda ax: ax.images[0].get_array().filled(np.nan)  # noqa: E731
    mosaic = fm.images.tile_images(x, 2, 5)
    ax = ch11.show_mosaic(mosaic, ax=Figure().add_subplot(), title="tiles")
    grid = ch11.show_grid(x, ncols=5, ax=Figure().add_subplot())
    assert drawn(ax).shape == (2 * 9 - 1, 5 * 9 - 1)
    assert np.allclose(drawn(ax), drawn(grid), equal_nan=True), "the same picture as show_grid"
    assert np.isnan(drawn(ax)[8]).all() and np.isnan(drawn(ax)[:, 8::9]).all(), "one-pixel gaps"
    assert ax.get_title() == "tiles"
    # a wrongly tiled mosaic is drawn as it is (only cut into 8 x 8 tiles), not repaired
    transposed = x.reshape(2, 5, 8, 8).permute(0, 3, 1, 2).reshape(16, 40)
    wrong = ch11.show_mosaic(transposed, ax=Figure().add_subplot())
    assert not np.allclose(drawn(wrong), drawn(grid), equal_nan=True)
    assert np.allclose(drawn(wrong)[:8, :8], np.clip(transposed[:8, :8].numpy(), -1, 1))
    wide = ch11.show_mosaic(mosaic, ax=Figure().add_subplot(), pad=2)
    assert drawn(wide).shape == (2 * 10 - 2, 5 * 10 - 2)
    with pytest.raises(ValueError, match=r"mosaic: expected shape \(rows \* 8, cols \* 8\)"):
        ch11.show_mosaic(torch.zeros(12, 16), ax=Figure().add_subplot())
    with pytest.raises(ValueError, match="mosaic"):
        ch11.show_mosaic(torch.zeros(2, 8, 8), ax=Figure().add_subplot())


def test_widget_regenerates_a_different_grid_when_the_class_changes(digit_run, digit_classifier):
    live = ch11.digit_explorer(digit_run.model, digit_classifier, digit=3, w=1.0, n_steps=4, n=9)
    first, x3 = live.image.value, live.state["x"].clone()
    assert live.last_error is None and "reads" in live.text.value and "NFE = 8" in live.text.value
    live.controls["digit"].value = 8
    assert live.image.value != first and live.state["digit"] == 8
    assert not torch.allclose(live.state["x"], x3, atol=1e-3)
    # at w = 0 the class no longer matters: switching it back regenerates the same grid
    live.controls["w"].value = 0.0
    x_w0 = live.state["x"].clone()
    live.controls["digit"].value = 3
    assert torch.allclose(live.state["x"], x_w0, atol=1e-6)
    live.controls["method"].value = "euler"
    assert "NFE = 4" in live.text.value and live.state["nfe"] == 4


def test_tile_exercise_reference_passes_and_mistakes_get_their_hints():
    assert ch11.check_tile_images(ch11.reference_tile_images, verbose=False)

    def todo(x, r, c):
        raise NotImplementedError

    assert ch11.check_tile_images(todo, verbose=False).status == "todo"
    cases = {
        "cuts the batch into strips": lambda x, r, c: x.reshape(r * 8, c * 8),
        "transposed": lambda x, r, c: (
            x.reshape(r, c, 8, 8).permute(0, 3, 1, 2).reshape(r * 8, c * 8)
        ),
        "run down the columns": lambda x, r, c: (
            x.reshape(c, r, 8, 8).permute(1, 2, 0, 3).reshape(r * 8, c * 8)
        ),
        "wrong axis order": lambda x, r, c: (
            x.reshape(r, c, 8, 8).permute(2, 0, 3, 1).reshape(r * 8, c * 8)
        ),
        "rows and columns are swapped": lambda x, r, c: x.reshape(c * 8, r * 8),
        "forget `return`": lambda x, r, c: None,
    }
    for hint, wrong in cases.items():
        res = ch11.check_tile_images(wrong, verbose=False)
        assert not res and hint in res.message, (hint, res.message)


def test_moving_the_class_back_shows_the_first_picture_again(digit_run, digit_classifier):
    """The noise is fixed, so a class's grid is always the same picture: pixel for pixel (a blitted
    redraw's PNG encoding may differ from the first render's, its pixels may not)."""
    import io

    from PIL import Image

    def pixels(png: bytes) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))

    live = ch11.digit_explorer(digit_run.model, digit_classifier, digit=3, w=1.0, n_steps=6)
    before, x3 = live.image.value, live.state["x"].clone()
    live.controls["digit"].value = 7
    assert live.image.value != before and live.last_error is None and "7" in live.text.value
    live.controls["digit"].value = 3
    assert torch.equal(live.state["x"], x3)
    assert np.array_equal(pixels(live.image.value), pixels(before))


def test_widget_controls_get_room(digit_run):
    """The sliders keep a usable track: a fixed width they cannot be squeezed below (the row wraps
    instead) and a label column that does not eat into it (they had ~55 px tracks)."""
    live = ch11.digit_explorer(digit_run.model, n=4)
    sliders = [live.controls[k] for k in ("digit", "w", "n_steps")]
    for s in sliders:
        assert (s.layout.width, s.layout.min_width) == ("20em", "20em"), s.description
        assert s.style.description_width == "6em"
    assert live.controls["method"].style.description_width == "6em"
    assert live.widget.children[0].layout.flex_flow == "row wrap"  # LivePlot's control row
