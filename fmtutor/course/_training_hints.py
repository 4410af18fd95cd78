"""The typical slips of chapter 5's training exercises: hint (a tr message) -> slip code."""

from __future__ import annotations

__all__ = ["cfm_loss_slips", "train_step_slips"]

from fmtutor.course.i18n import tr


def cfm_loss_slips() -> dict[str, str]:
    """Hint -> the ``_mistakes.cfm_loss_with`` slip it names."""
    return {
        tr("time is reversed: x_t = (1 - t) x0 + t x1 starts at the noise x0 when t = 0."): "time",
        tr("the target's sign is flipped: the regression target is x1 - x0."): "target",
        tr(
            "you averaged over coordinates too (like nn.MSELoss): sum the squares over "
            "coordinates, then average over the batch."
        ): "mse",
        tr("the target should be x1 - x0, not x1."): "x1",
        tr(
            "the norm is not squared: the loss averages ||model(x_t, t) - (x1 - x0)||^2, "
            "the sum of the squared coordinates (no square root)."
        ): "norm",
        tr(
            "you summed over the batch: average over it (.mean()), so that the loss does "
            "not grow with the batch size."
        ): "sum",
        tr(
            "you evaluated the model at the noise x0: it must see the point on the path, "
            "model(x_t, t) with x_t = (1 - t) x0 + t x1."
        ): "x0",
    }


def train_step_slips() -> dict[str, str]:
    """Hint -> the ``_mistakes.train_step_with`` slip it names."""
    return {
        tr("the target is reversed: regress on x1 - x0 (data minus noise), not x0 - x1."): "target",
        tr("time is reversed: x_t = (1 - t) x0 + t x1 is the noise x0 at t = 0."): "time",
        tr(
            "opt.zero_grad() is missing: backward() adds to the gradients already there, so "
            "the second step follows the sum of both steps' gradients. Reset them before "
            "backward()."
        ): "zero_grad",
        tr(
            "the weights never change: call loss.backward(), then opt.step() (reset the "
            "gradients before backward(), not between backward() and step())."
        ): "update",
        tr(
            "you averaged over coordinates too (nn.MSELoss): with Adam the update hardly "
            "changes, but the loss you return is the CFM loss divided by d. Sum over "
            "coordinates, average over the batch."
        ): "mse",
    }
