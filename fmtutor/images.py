"""Images on a CPU: 8x8 digits as 64-d vectors, image grids, a classifier-based quality metric, training with snapshots.

An 8x8 image is stored as a vector of 64 numbers, row by row: pixel (i, j) is entry 8 i + j, and
values lie in [-1, 1] (-1 = no ink). A class-conditional MLP (fmtutor.models.MLP with
``num_classes=10``) learns the velocity u_theta(x, t, y) on these vectors with the CFM loss; label
dropout (the label replaced by "no label" with probability p) trains the unconditional field in the same
network, which classifier-free guidance needs.

Quality of generated digits of requested classes y_i is measured three ways (``sample_quality``):

* accuracy: the fraction that a logistic-regression classifier, trained on real digits, labels y_i;
* sliced_w2: sliced 2-Wasserstein distance to real training digits (lower is closer to the data);
* nn_distance: mean Euclidean distance to the nearest real training digit.

>>> x = torch.arange(4 * 64, dtype=torch.float32).reshape(4, 64)
>>> grid = image_grid(x, ncols=2, pad=1)
>>> grid.shape, float(grid[9, 9]) == float(x[3, 0])      # image 3: row 1, column 1, top-left pixel
((17, 17), True)
"""

__all__ = [
    "SIDE",
    "DIGITS_RECIPE",
    "DigitSplit",
    "split_digits",
    "to_images",
    "tile_images",
    "DigitClassifier",
    "fit_digit_classifier",
    "digit_model",
    "sample_digits",
    "sample_quality",
    "evaluate_sampler",
    "DigitRun",
    "train_digits",
]

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ._validate import as_tensor, check_number, check_positive_int
from .data import load_digits, make_generator

#: Side length of the digit images (8 x 8 = 64 pixels).
SIDE = 8

#: The chapter's recipe: a class-conditional MLP on the 64-d vectors, trained ~20 s on two CPU cores.
DIGITS_RECIPE: dict[str, dict[str, Any]] = {
    "model": {"hidden": 256, "depth": 3, "activation": "silu", "n_frequencies": 4},
    "train": {
        "steps": 1500,
        "batch_size": 256,
        "lr": 5e-3,
        "lr_schedule": "cosine",
        "label_dropout": 0.2,
    },
}


def _check_batch(x: Any, name: str = "x", side: int = SIDE) -> Tensor:
    """A (B, side * side) floating tensor of finite values (or raise naming ``name``)."""
    x = as_tensor(x, name, finite=True)
    if x.ndim != 2 or x.shape[1] != side * side:
        raise ValueError(
            f"{name}: expected a batch of flattened {side}x{side} images of shape (B, {side * side}), "
            f"got {tuple(x.shape)}"
        )
    return x


# --------------------------------------------------------------------------------------------- data
@dataclass
class DigitSplit:
    """Train/test split of the 8x8 digits: images (n, 64) in [-1, 1] and labels (n,) int64."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor


def split_digits(n_test: int = 397, seed: int = 0) -> DigitSplit:
    """scikit-learn's 1,797 digits (fmtutor.data.load_digits), randomly split into train and held-out test sets.

    Args:
        n_test: size of the test set (default 397, leaving 1,400 for training).
        seed: seeds the random permutation.
    """
    n_test = check_positive_int(n_test, "n_test")
    x, y = load_digits()
    if n_test >= len(x):
        raise ValueError(f"n_test: expected fewer than {len(x)} test images, got {n_test}")
    perm = torch.randperm(len(x), generator=make_generator(seed))
    tr, te = perm[n_test:], perm[:n_test]
    return DigitSplit(x[tr], y[tr], x[te], y[te])


# -------------------------------------------------------------------------------------------- grids
def to_images(x: Any, side: int = SIDE) -> Tensor:
    """Flattened images (B, side * side) -> (B, side, side); pixel (i, j) is entry side * i + j."""
    side = check_positive_int(side, "side")
    return _check_batch(x, "x", side).reshape(-1, side, side)


def tile_images(x: Any, rows: int, cols: int, side: int = SIDE) -> Tensor:
    """Tile rows * cols flattened images into one (rows * side, cols * side) mosaic, no padding.

    Image k goes to grid row k // cols and grid column k % cols, so

        mosaic[r * side + i, c * side + j] = x[r * cols + c, side * i + j].

    This is x.reshape(rows, cols, side, side).permute(0, 2, 1, 3).reshape(rows * side, cols * side).
    """
    rows, cols = check_positive_int(rows, "rows"), check_positive_int(cols, "cols")
    x = _check_batch(x, "x", side)
    if x.shape[0] != rows * cols:
        raise ValueError(f"x: expected rows * cols = {rows * cols} images, got {x.shape[0]}")
    return x.reshape(rows, cols, side, side).permute(0, 2, 1, 3).reshape(rows * side, cols * side)


# ----------------------------------------------------------------------------------------- classifier
class DigitClassifier:
    """A logistic-regression digit classifier (scikit-learn) used to score generated digits.

    Inputs are clipped to [-1, 1] first (generated pixels can overshoot a little). Fitting uses one
    BLAS thread: on 1,400 images that is ~0.3 s, while two threads on a busy machine can take 10 s.

    Args:
        x: training images (n, 64). y: their labels (n,).
        C: inverse regularisation strength of LogisticRegression.
    """

    def __init__(self, x: Any, y: Any, C: float = 1.0) -> None:
        from sklearn.linear_model import LogisticRegression
        from threadpoolctl import threadpool_limits

        x = _check_batch(x, "x")
        y = torch.as_tensor(y)
        if y.shape != (x.shape[0],):
            raise ValueError(f"y: expected {x.shape[0]} labels, got shape {tuple(y.shape)}")
        C = check_number(C, "C", minimum=0.0, strict=True)
        with threadpool_limits(1):
            self.clf = LogisticRegression(C=C, max_iter=1000).fit(self._np(x), y.numpy())
        self.classes = self.clf.classes_

    @staticmethod
    def _np(x: Tensor) -> np.ndarray:
        return x.detach().cpu().double().clamp(-1, 1).numpy()

    def predict(self, x: Any) -> Tensor:
        """Predicted labels, shape (B,) int64."""
        from threadpoolctl import threadpool_limits

        x = _check_batch(x, "x")
        with threadpool_limits(1):
            return torch.as_tensor(self.clf.predict(self._np(x)), dtype=torch.int64)

    def accuracy(self, x: Any, y: Any) -> float:
        """Fraction of images x whose predicted label equals y (y an int or (B,) labels)."""
        pred = self.predict(x)
        y = (
            torch.as_tensor(y).expand(pred.shape[0])
            if torch.as_tensor(y).ndim == 0
            else torch.as_tensor(y)
        )
        if y.shape != pred.shape:
            raise ValueError(f"y: expected {pred.shape[0]} labels, got shape {tuple(y.shape)}")
        return float((pred == y.cpu()).double().mean())

    def per_class_accuracy(self, x: Any, y: Any, num_classes: int = 10) -> np.ndarray:
        """Accuracy among the images of each requested class c = 0..num_classes-1 (NaN where none)."""
        pred, y = self.predict(x), torch.as_tensor(y).cpu()
        out = np.full(num_classes, np.nan)
        for c in range(num_classes):
            m = y == c
            if m.any():
                out[c] = float((pred[m] == c).double().mean())
        return out


def fit_digit_classifier(split: DigitSplit, C: float = 1.0) -> DigitClassifier:
    """A DigitClassifier trained on split's training images."""
    if not isinstance(split, DigitSplit):
        raise TypeError(
            f"split: expected a DigitSplit (see split_digits), got {type(split).__name__}"
        )
    return DigitClassifier(split.x_train, split.y_train, C)


# ------------------------------------------------------------------------------------ model, sampling
def digit_model(seed: int = 0, **overrides: Any) -> nn.Module:
    """A fresh class-conditional MLP(dim=64, num_classes=10) with DIGITS_RECIPE['model'] (plus overrides)."""
    from .models import MLP

    unknown = set(overrides) - set(DIGITS_RECIPE["model"])
    if unknown:
        raise ValueError(
            f"overrides: expected keys of {sorted(DIGITS_RECIPE['model'])}, got unknown model settings {sorted(unknown)}"
        )
    torch.manual_seed(seed)
    return MLP(dim=SIDE * SIDE, num_classes=10, **{**DIGITS_RECIPE["model"], **overrides})


def _labels(labels: Any, name: str = "labels") -> Tensor:
    y = torch.as_tensor(labels)
    if y.ndim != 1 or y.numel() == 0 or y.dtype.is_floating_point or y.dtype == torch.bool:
        raise ValueError(
            f"{name}: expected a non-empty 1-D sequence of integer labels, got {tuple(y.shape)} of {y.dtype}"
        )
    return y.long()


def sample_digits(
    model: nn.Module,
    labels: Any,
    w: float = 1.0,
    n_steps: int = 10,
    method: str = "midpoint",
    seed: int = 0,
    return_solution: bool = False,
) -> Any:
    """Generate one digit per requested label by integrating the guided velocity from t = 0 to t = 1.

    The field is u_w(x, t | y) = u(x, t | null) + w (u(x, t | y) - u(x, t | null))
    (fmtutor.guidance.CFGVelocity), started from x_0 ~ N(0, I) drawn with ``seed`` (the same noise for
    every w and solver, so comparisons are paired).

    Args:
        model: a class-conditional network ``model(x, t, y)`` trained with label dropout.
        labels: requested classes, shape (B,).
        w: guidance weight (0: unconditional, 1: conditional, > 1: guided).
        n_steps, method: the ODE solver (see fmtutor.solvers.solve).
        seed: seeds x_0.
        return_solution: return the solvers.Solution (with .nfe, and .trajectory) instead of the images.

    Returns:
        The images, shape (B, 64), on the CPU (not clipped), or the Solution.
    """
    from .guidance import CFGVelocity
    from .solvers import solve

    y = _labels(labels)
    x0 = torch.randn(y.shape[0], SIDE * SIDE, generator=make_generator(seed))
    params = [p for p in model.parameters()] if isinstance(model, nn.Module) else []
    if params:
        x0, y = x0.to(params[0].device), y.to(params[0].device)
    was_training = isinstance(model, nn.Module) and model.training
    if was_training:
        model.eval()
    try:
        sol = solve(
            CFGVelocity(model, y, w),
            x0,
            method=method,
            n_steps=n_steps,
            return_trajectory=return_solution,
        )
    finally:
        if was_training:
            model.train()
    return sol if return_solution else sol.x.cpu()


def sample_quality(
    samples: Any,
    labels: Any,
    classifier: DigitClassifier,
    reference: Any,
    n_projections: int = 256,
    seed: int = 0,
) -> dict[str, float]:
    """Quality of generated digits that were asked to be of classes ``labels``.

    Returns a dict with
        accuracy: fraction the classifier labels as requested (fidelity to the class; chance = 0.1),
        sliced_w2: sliced W2 between samples and the reference images (realism and diversity),
        nn_distance: mean over samples of min_j ||x_i - r_j|| (distance to the closest reference image).

    Args:
        samples: (B, 64). labels: (B,) requested classes. classifier: a DigitClassifier.
        reference: real images (N, 64), e.g. the training digits.
        n_projections, seed: for the sliced W2.
    """
    from .metrics import sliced_wasserstein2

    x = (
        _check_batch(samples, "samples").detach().cpu().float()
    )  # not clipped: overshoot is an error too
    ref = _check_batch(reference, "reference").detach().cpu().float()
    y = _labels(labels)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"labels: expected {x.shape[0]} labels (one per sample), got {y.shape[0]}")
    if not isinstance(classifier, DigitClassifier):
        raise TypeError(f"classifier: expected a DigitClassifier, got {type(classifier).__name__}")
    return {
        "accuracy": classifier.accuracy(x, y),
        "sliced_w2": sliced_wasserstein2(x, ref, n_projections=n_projections, seed=seed),
        "nn_distance": float(torch.cdist(x, ref).min(1).values.mean()),
    }


def evaluate_sampler(
    model: nn.Module,
    classifier: DigitClassifier,
    reference: Any,
    w: float = 1.0,
    method: str = "midpoint",
    n_steps: int = 10,
    per_class: int = 50,
    seed: int = 0,
) -> dict[str, Any]:
    """Generate per_class digits of each class 0..9 and measure them (sample_quality).

    Returns:
        sample_quality's dict plus 'w', 'method', 'n_steps', 'nfe' (velocity evaluations of the guided field;
        each costs two network passes when w != 1) and 'per_class' (accuracy per requested class, (10,)).
    """
    per_class = check_positive_int(per_class, "per_class")
    y = torch.arange(10).repeat_interleave(per_class)
    sol = sample_digits(
        model, y, w=w, n_steps=n_steps, method=method, seed=seed, return_solution=True
    )
    x = sol.x.cpu()
    out = sample_quality(x, y, classifier, reference, seed=seed)
    out.update(
        w=float(w),
        method=method,
        n_steps=n_steps,
        nfe=sol.nfe,
        per_class=classifier.per_class_accuracy(x, y),
    )
    return out


# ------------------------------------------------------------------------------------------- training
@dataclass
class DigitRun:
    """What train_digits returns.

    Attributes:
        model: the trained network (eval mode).
        losses: CFM loss per step, shape (steps,).
        seconds: wall time of the training loop (snapshots excluded).
        snapshot_steps: the optimisation steps at which snapshots were taken (0 = before training).
        snapshots: generated images at those steps, shape (S, n_snapshot, 64), from the same noise and labels.
        snapshot_labels: the labels of the snapshot images, shape (n_snapshot,).
    """

    model: nn.Module
    losses: np.ndarray
    seconds: float
    snapshot_steps: list[int] = field(default_factory=list)
    snapshots: Tensor = field(default_factory=lambda: torch.zeros(0, 0, SIDE * SIDE))
    snapshot_labels: Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.int64))

    def extra(self) -> dict[str, Any]:
        """The run without the model, as plain values (for fmtutor.io.save_model / cached_model)."""
        return {
            "losses": self.losses,
            "seconds": self.seconds,
            "snapshot_steps": list(self.snapshot_steps),
            "snapshots": self.snapshots,
            "snapshot_labels": self.snapshot_labels,
        }

    @classmethod
    def from_extra(cls, model: nn.Module, extra: dict[str, Any]) -> "DigitRun":
        """Rebuild a run from a model and the dict written by extra()."""
        return cls(
            model,
            np.asarray(extra["losses"]),
            float(extra["seconds"]),
            [int(s) for s in extra["snapshot_steps"]],
            torch.as_tensor(extra["snapshots"]),
            torch.as_tensor(extra["snapshot_labels"]),
        )


def train_digits(
    x: Any,
    y: Any,
    steps: "int | None" = None,
    snapshot_steps: Sequence[int] = (),
    snapshot_labels: Any = None,
    snapshot_n_steps: int = 10,
    seed: int = 0,
    progress: bool = True,
    model: "nn.Module | None" = None,
    **train_overrides: Any,
) -> DigitRun:
    """Train a class-conditional velocity network on digit vectors with the CFM loss and label dropout.

    Uses fmtutor.training.train_cfm with DIGITS_RECIPE['train'] (overridable). At each step s in
    snapshot_steps (0 = before training, s = after s updates) the current network generates
    ``snapshot_labels`` from fixed noise (midpoint, snapshot_n_steps steps, w = 1), so the rows of
    ``snapshots`` show the same digits improving during training.

    Args:
        x: training images (N, 64) in [-1, 1]. y: labels (N,) in 0..9.
        steps: optimisation steps (default DIGITS_RECIPE['train']['steps']).
        snapshot_steps: when to take snapshots (each in 0..steps).
        snapshot_labels: classes of the snapshot images (default 0..9).
        snapshot_n_steps: midpoint steps used for the snapshots.
        seed: seeds the model, the training draws and the snapshot noise.
        progress: show the progress bar.
        model: a network to train (default digit_model(seed)).
        **train_overrides: other train_cfm arguments (batch_size, lr, label_dropout, ...).
    """
    from .training import train_cfm

    x = _check_batch(x, "x")
    y = _labels(y, "y")
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"y: expected {x.shape[0]} labels, got {y.shape[0]}")
    cfg = {**DIGITS_RECIPE["train"], **train_overrides}
    steps = check_positive_int(cfg.pop("steps") if steps is None else steps, "steps")
    wanted = sorted({int(s) for s in snapshot_steps})
    if any(s < 0 or s > steps for s in wanted):
        raise ValueError(f"snapshot_steps: expected steps in 0..{steps}, got {wanted}")
    labels = (
        torch.arange(10) if snapshot_labels is None else _labels(snapshot_labels, "snapshot_labels")
    )
    model = digit_model(seed) if model is None else model
    shots: list[Tensor] = []
    spent = [0.0]

    def snap() -> None:
        t0 = time.perf_counter()
        shots.append(
            sample_digits(model, labels, 1.0, snapshot_n_steps, "midpoint", seed=seed + 777)
        )
        spent[0] += time.perf_counter() - t0

    if 0 in wanted:
        snap()
    later = set(wanted) - {0}

    def callback(step: int, loss: float) -> None:
        if step + 1 in later:
            snap()

    cfg.pop("steps", None)
    res = train_cfm(
        model, (x, y), steps=steps, seed=seed, progress=progress, callback=callback, **cfg
    )
    snaps = torch.stack(shots) if shots else torch.zeros(0, labels.shape[0], SIDE * SIDE)
    return DigitRun(model.eval(), res.losses, res.seconds - spent[0], wanted, snaps, labels)


# --------------------------------------------------------------------------------------------- widget
