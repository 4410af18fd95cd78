"""8x8 digits as 64-d vectors: the data split, image layout, and a classifier-based quality score.

An 8x8 image is stored as a vector of 64 numbers, row by row: pixel (i, j) is entry 8 i + j, and
values lie in [-1, 1] (-1 = no ink). A class-conditional MLP (fmtutor.models.MLP with
``num_classes=10``) learns the velocity u_theta(x, t, y) on these vectors with the CFM loss;
label dropout (the label replaced by "no label" with probability p) trains the unconditional field
in the same network, which classifier-free guidance needs (the recipe is in ``fmtutor.digits``).

Quality of generated digits of requested classes y_i is measured three ways (``sample_quality``):

* accuracy: the fraction that a logistic-regression classifier, trained on real digits, labels y_i;
* sliced_w2: sliced 2-Wasserstein distance to real training digits (lower is closer to the data);
* nn_distance: mean Euclidean distance to the nearest real training digit.

>>> x = torch.arange(2 * 64, dtype=torch.float32).reshape(2, 64)
>>> to_images(x).shape, float(to_images(x)[1, 2, 3]) == float(x[1, 8 * 2 + 3])
(torch.Size([2, 8, 8]), True)
"""

__all__ = [
    "SIDE",
    "DigitSplit",
    "split_digits",
    "to_images",
    "tile_images",
    "DigitClassifier",
    "fit_digit_classifier",
    "sample_quality",
]

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from torch import Tensor

from ._validate import as_tensor, check_number, check_positive_int
from .data import load_digits, make_generator
from .metrics import sliced_wasserstein2

#: Side length of the digit images (8 x 8 = 64 pixels).
SIDE = 8


def _check_batch(x: Any, name: str = "x", side: int = SIDE) -> Tensor:
    """A (B, side * side) floating tensor of finite values (or raise naming ``name``)."""
    x = as_tensor(x, name, finite=True)
    if x.ndim != 2 or x.shape[1] != side * side:
        raise ValueError(
            f"{name}: expected a batch of flattened {side}x{side} images of shape "
            f"(B, {side * side}), got {tuple(x.shape)}"
        )
    return x


@dataclass
class DigitSplit:
    """Train/test split of the 8x8 digits: images (n, 64) in [-1, 1] and labels (n,) int64."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor


def split_digits(n_test: int = 397, seed: int = 0) -> DigitSplit:
    """scikit-learn's 1,797 digits (fmtutor.data.load_digits), split at random into train and test.

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


class DigitClassifier:
    """A logistic-regression digit classifier (scikit-learn) used to score generated digits.

    Inputs are clipped to [-1, 1] first (generated pixels can overshoot a little). Fitting uses one
    BLAS thread: on 1,400 images that is ~0.3 s, while two threads on a busy machine can take 10 s.

    Args:
        x: training images (n, 64). y: their labels (n,).
        C: inverse regularisation strength of LogisticRegression.
    """

    def __init__(self, x: Any, y: Any, C: float = 1.0) -> None:
        # imported here, not at the top: scikit-learn would nearly double `import fmtutor`
        from sklearn.linear_model import LogisticRegression

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
        """Accuracy among the images of each requested class c = 0..num_classes-1 (NaN if none)."""
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


def sample_quality(
    samples: Any,
    labels: Any,
    classifier: DigitClassifier,
    reference: Any,
    n_projections: int = 256,
    seed: int = 0,
) -> dict[str, float]:
    """Quality of generated digits that were asked to be of classes ``labels``.

    Args:
        samples: (B, 64). labels: (B,) requested classes. classifier: a DigitClassifier.
        reference: real images (N, 64), e.g. the training digits.
        n_projections, seed: for the sliced W2.

    Returns:
        A dict with
        accuracy: fraction the classifier labels as requested (fidelity to the class; chance 0.1),
        sliced_w2: sliced W2 between samples and the reference images (realism and diversity),
        nn_distance: mean over samples of min_j ||x_i - r_j|| (the distance to the closest
        reference image).
    """
    # not clipped: overshoot is an error too
    x = _check_batch(samples, "samples").detach().cpu().float()
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


def _labels(labels: Any, name: str = "labels") -> Tensor:
    """Integer class labels as a non-empty (B,) int64 tensor (or a ValueError naming ``name``)."""
    y = torch.as_tensor(labels)
    if y.ndim != 1 or y.numel() == 0 or y.dtype.is_floating_point or y.dtype == torch.bool:
        raise ValueError(
            f"{name}: expected a non-empty 1-D sequence of integer labels, "
            f"got {tuple(y.shape)} of {y.dtype}"
        )
    return y.long()
