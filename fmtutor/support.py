"""Support-aware scores: k-NN precision and recall of a sample set against reference data.

W2 on 2,000 points averages over the whole set, so a sample set that fills the gaps between a
target's arms (two spirals turned into a disc) can score close to the noise floor. Precision and
recall (Kynkaenniemi et al., 2019, "Improved precision and recall metric for assessing generative
models") look at the supports instead: each set's support is estimated as the union of balls
around its points, each ball reaching the point's k-th nearest neighbour in its own set.

* precision: the fraction of samples inside the reference set's estimated support;
* recall: the fraction of reference points inside the sample set's estimated support.

Swapping the roles of the two sets swaps the two numbers. Fresh data scores slightly below 1 on
both (a ball around each point misses a few points of an independent set): compare a model's
values with fresh data's own (``fresh_support``), as W2 is compared with its noise floor.

>>> import torch
>>> a = torch.randn(50, 2, generator=torch.Generator().manual_seed(0))
>>> precision_recall(a, a, n=50)
PrecisionRecall(precision=1.0, recall=1.0)
"""

from __future__ import annotations

__all__ = ["K", "N", "PrecisionRecall", "knn_radii2", "precision_recall", "fresh_support"]

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

from ._validate import check_callable, check_points, check_positive_int

#: The neighbour whose distance sets each ball's radius (the k of k-NN), by default.
K = 5
#: The points of each set that are scored (the first N of each), by default.
N = 2000
# rows of a distance block computed at once: bounds the (rows, m, d) difference tensor
_BLOCK_ELEMENTS = 2**22


class PrecisionRecall(NamedTuple):
    """precision: fraction of samples on the reference support; recall: the reverse."""

    precision: float
    recall: float


def _sq_dists(a: Tensor, b: Tensor) -> Tensor:
    """Exact squared distances ||a_i - b_j||^2, shape (n, m), by differences (no cancellation)."""
    rows = max(1, _BLOCK_ELEMENTS // max(1, b.shape[0] * b.shape[1]))
    return torch.cat(
        [((a[i : i + rows, None, :] - b[None]) ** 2).sum(-1) for i in range(0, a.shape[0], rows)]
    )


def knn_radii2(x: Tensor, k: int = K) -> Tensor:
    """Squared distance of each point to its k-th nearest neighbour in x, itself excluded.

    r_k(x_i)^2 = the (k + 1)-th smallest of ||x_i - x_j||^2 over j (j = i gives the smallest, 0).

    Args:
        x: points, shape (n, d), float64, n > k.
        k: which neighbour.

    Returns:
        The squared radii, shape (n,).
    """
    return torch.kthvalue(_sq_dists(x, x), k + 1, dim=1).values


def _covered(points: Tensor, centres: Tensor, k: int) -> float:
    """Fraction of points inside some ball B(c, r_k(c)), c a centre (both sides squared)."""
    inside = _sq_dists(points, centres) <= knn_radii2(centres, k)[None, :]
    return float(inside.any(dim=1).double().mean())


def _first_n(x: Any, name: str, n: int, k: int) -> Tensor:
    x = check_points(x, name, min_points=n).detach().cpu().double()
    if n <= k:
        raise ValueError(f"n: expected more points than k = {k} neighbours, got n = {n}")
    return x[:n]


def precision_recall(samples: Any, reference: Any, k: int = K, n: int = N) -> PrecisionRecall:
    """k-NN precision and recall of samples against reference points (Kynkaenniemi et al., 2019).

    With S the first n samples, R the first n reference points and r_k(p) the distance from p to
    its k-th nearest neighbour within its own set (p excluded)::

        precision = (1/n) #{s in S : ||s - r||^2 <= r_k(r)^2 for some r in R}
        recall    = (1/n) #{r in R : ||r - s||^2 <= r_k(s)^2 for some s in S}

    so precision_recall(a, b) == precision_recall(b, a)[::-1]. Deterministic (exact distances in
    float64, no randomness).

    Args:
        samples: the model's points, shape (>= n, d): a tensor or NumPy array, any float dtype.
        reference: held-out target points, shape (>= n, d), same d.
        k: the neighbour defining each ball's radius (default K = 5).
        n: points scored from each set, the first n (default N = 2,000); both must have >= n.

    Returns:
        PrecisionRecall(precision, recall), each in [0, 1].
    """
    k = check_positive_int(k, "k")
    n = check_positive_int(n, "n")
    s = _first_n(samples, "samples", n, k)
    r = _first_n(reference, "reference", n, k)
    if s.shape[1] != r.shape[1]:
        raise ValueError(
            f"reference: expected points of the samples' dimension {s.shape[1]}, got {r.shape[1]}"
        )
    return PrecisionRecall(_covered(s, r, k), _covered(r, s, k))


def fresh_support(
    sampler: Callable[..., Any], k: int = K, n: int = N, seed: int = 0, repeats: int = 3
) -> PrecisionRecall:
    """Fresh target data's own precision and recall: what a perfect sampler scores.

    Repeat i scores sampler(n, seed=2_000_001 + 2 (seed + i)) against
    sampler(n, seed=2_000_002 + 2 (seed + i)).

    Args:
        sampler: ``sampler(n, seed=...)`` returning (n, d) points, e.g. fmtutor.data.spirals.
        k, n: as in precision_recall.
        seed: base seed.
        repeats: pairs of fresh sets averaged.

    Returns:
        PrecisionRecall, the means over the repeats.
    """
    check_callable(sampler, "sampler", "a sampler(n, seed=...), e.g. fmtutor.data.spirals")
    repeats = check_positive_int(repeats, "repeats")
    got = [
        precision_recall(
            sampler(n, seed=2_000_001 + 2 * (seed + i)),
            sampler(n, seed=2_000_002 + 2 * (seed + i)),
            k,
            n,
        )
        for i in range(repeats)
    ]
    return PrecisionRecall(
        sum(g.precision for g in got) / repeats, sum(g.recall for g in got) / repeats
    )
