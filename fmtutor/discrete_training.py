"""Discrete flow matching, learned: a posterior network, its cross-entropy loss, training, scores.

The network reads a noisy sequence x_t (B, D) and t and predicts, for every token i, the posterior
p_{1|t}(x_1^i | x_t) over the V data tokens (logits (B, D, V)). It is trained with

    L(theta) = E_{t, X_0, X_1, X_t} sum_i -log p^theta_{1|t}(X_1^i | X_t),

t ~ U[0, 1), X_0 from the source, X_1 ~ q, X_t from the mixture path; the loss is summed over
tokens and averaged over the batch. Its minimiser is the exact posterior, and
``MixturePath.posterior_velocity`` turns a posterior into the marginal probability velocity.
"""

__all__ = [
    "TokenPosteriorNet",
    "posterior_loss",
    "train_posterior",
    "sample_law",
    "empirical_law",
    "total_variation",
    "kl_divergence",
    "tv_noise_floor",
]

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ._validate import check_callable, check_number, check_positive_int
from .data import make_generator
from .discrete import MixturePath, _times
from .io import MODEL_CLASSES
from .training import TrainResult, _adam, _lr_factors


class TokenPosteriorNet(nn.Module):
    """An MLP from (x_t, t) to per-token posterior logits over the data tokens.

    Each token gets a learned embedding of its value and position; the embeddings and Fourier
    features of t are concatenated and passed through ``depth`` SiLU layers of width ``hidden``.

    Args:
        vocab: V data tokens. n_states: S token values of x_t (V + 1 with a mask token).
        dims: D tokens per sequence. hidden, depth, emb: widths and depth.
        n_frequencies: Fourier features sin / cos(2^k pi t), k < n_frequencies, besides t.

    Shapes: x (B, D) int64, t float or (B,) -> logits (B, D, V).
    """

    def __init__(
        self,
        vocab: int,
        n_states: int,
        dims: int = 2,
        hidden: int = 128,
        depth: int = 3,
        emb: int = 16,
        n_frequencies: int = 3,
    ) -> None:
        super().__init__()
        for value, name in [(vocab, "vocab"), (n_states, "n_states"), (dims, "dims")]:
            check_positive_int(value, name)
        check_positive_int(n_frequencies, "n_frequencies", minimum=0)
        self.vocab, self.n_states, self.dims = vocab, n_states, dims
        self.config = dict(
            vocab=vocab,
            n_states=n_states,
            dims=dims,
            hidden=hidden,
            depth=depth,
            emb=emb,
            n_frequencies=n_frequencies,
        )
        self.embed = nn.Embedding(dims * n_states, check_positive_int(emb, "emb"))
        self.register_buffer("freqs", math.pi * 2.0 ** torch.arange(n_frequencies).float())
        layers: list[nn.Module] = []
        width = dims * emb + 1 + 2 * n_frequencies
        for _ in range(check_positive_int(depth, "depth")):
            layers += [nn.Linear(width, check_positive_int(hidden, "hidden")), nn.SiLU()]
            width = hidden
        self.net = nn.Sequential(*layers, nn.Linear(width, dims * vocab))

    def forward(self, x: Tensor, t: Any) -> Tensor:
        """Posterior logits, shape (B, D, V)."""
        x = torch.as_tensor(x)
        if x.ndim != 2 or x.shape[1] != self.dims or x.dtype.is_floating_point:
            raise ValueError(
                f"x: expected int tokens of shape (B, {self.dims}), got {x.dtype} {tuple(x.shape)}"
            )
        if x.numel() and (int(x.min()) < 0 or int(x.max()) >= self.n_states):
            raise ValueError(f"x: expected tokens in 0..{self.n_states - 1}")
        tc = _times(t, x.shape[0]).to(self.freqs.dtype)[:, None]
        offset = torch.arange(self.dims, device=x.device) * self.n_states
        h = self.embed(x.long() + offset).flatten(1)
        feats = [h, tc, torch.sin(tc * self.freqs), torch.cos(tc * self.freqs)]
        return self.net(torch.cat(feats, 1)).reshape(-1, self.dims, self.vocab)

    def posterior(self, x: Tensor, t: Any) -> Tensor:
        """p^theta_{1|t}(y | x) per token, shape (B, D, V), without gradients."""
        with torch.no_grad():
            return torch.softmax(self(x, t).double(), -1)


MODEL_CLASSES["TokenPosteriorNet"] = TokenPosteriorNet  # so that load_model can rebuild it


def posterior_loss(model: Callable[..., Tensor], x_t: Tensor, t: Any, x_1: Tensor) -> Tensor:
    """sum_i -log softmax(model(x_t, t))[i, x_1^i], averaged over the batch (a scalar tensor)."""
    logits = model(x_t, t)
    x_1 = torch.as_tensor(x_1).long()
    if logits.shape[:2] != x_1.shape:
        raise ValueError(f"x_1: expected shape {tuple(logits.shape[:2])}, got {tuple(x_1.shape)}")
    nll = -torch.log_softmax(logits, -1).gather(-1, x_1[..., None])[..., 0]
    return nll.sum(1).mean()


def sample_law(p: Any, n: int, seed: Any = None) -> Tensor:
    """n i.i.d. sequences from a law p of shape (S,) * D, as tokens (n, D) int64."""
    p = torch.as_tensor(p, dtype=torch.float64)
    idx = torch.multinomial(
        p.reshape(-1), check_positive_int(n, "n"), True, generator=make_generator(seed)
    )
    return torch.stack(torch.unravel_index(idx, p.shape), 1)


def train_posterior(
    model: nn.Module,
    path: MixturePath,
    data: Any,
    steps: int = 2000,
    batch_size: int = 256,
    lr: float = 3e-3,
    seed: int = 0,
) -> TrainResult:
    """Train a posterior network with posterior_loss on the mixture path (Adam, cosine decay).

    Args:
        model: ``model(x_t, t) -> logits (B, D, V)``. path: the MixturePath.
        data: a law q of shape (V,) * D (sampled with sample_law) or ``data(n, seed=g) -> (n, D)``.
        steps, batch_size, lr: the optimisation. seed: initial weights and every draw.

    Returns:
        TrainResult (losses per step, seconds, steps, learning rates).
    """
    steps, batch_size = (
        check_positive_int(steps, "steps"),
        check_positive_int(batch_size, "batch_size"),
    )
    check_number(lr, "lr", minimum=0.0, strict=True)
    if not isinstance(path, MixturePath):
        raise TypeError(f"path: expected a MixturePath, got {type(path).__name__}")
    draw = data if callable(data) else (lambda n, seed: sample_law(data, n, seed))
    check_callable(draw, "data", "a law (V,) * D or a sampler data(n, seed=g)")
    g = make_generator(seed)
    torch.manual_seed(seed)
    model.train()
    opt, factors = _adam(model, lr), _lr_factors("cosine", steps)
    losses, lrs = np.empty(steps), lr * factors
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread is fastest for tiny networks (see train_cfm)
    start = time.perf_counter()
    try:
        for step in range(steps):
            x_1 = torch.as_tensor(draw(batch_size, seed=g)).long()
            x_0 = path.sample_source(batch_size, x_1.shape[1], g)
            t = torch.rand(batch_size, generator=g, dtype=torch.float64)
            loss = posterior_loss(model, path.sample(x_0, x_1, t, g), t, x_1)
            for group in opt.param_groups:
                group["lr"] = lrs[step]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses[step] = loss.item()
    finally:
        torch.set_num_threads(threads)
    model.eval()
    return TrainResult(losses, time.perf_counter() - start, steps, lrs)


def empirical_law(x: Tensor, n_states: int) -> Tensor:
    """The histogram of sequences x (B, D) as probabilities, shape (S,) * D."""
    x = torch.as_tensor(x).long()
    weights = n_states ** torch.arange(x.shape[1] - 1, -1, -1)
    counts = torch.bincount((x * weights).sum(1), minlength=n_states ** x.shape[1])
    return (counts.double() / len(x)).reshape((n_states,) * x.shape[1])


def total_variation(p: Any, q: Any) -> float:
    """TV(p, q) = 1/2 sum |p - q| between two laws on the same (enumerated) states."""
    p, q = torch.as_tensor(p, dtype=torch.float64), torch.as_tensor(q, dtype=torch.float64)
    if p.shape != q.shape:
        raise ValueError(f"q: expected the shape of p {tuple(p.shape)}, got {tuple(q.shape)}")
    return 0.5 * float((p - q).abs().sum())


def kl_divergence(p: Any, q: Any) -> float:
    """KL(p || q) = sum p log(p / q) (terms with p = 0 count 0; inf where q = 0 < p)."""
    p, q = torch.as_tensor(p, dtype=torch.float64), torch.as_tensor(q, dtype=torch.float64)
    if p.shape != q.shape:
        raise ValueError(f"q: expected the shape of p {tuple(p.shape)}, got {tuple(q.shape)}")
    on = p > 0
    return float((p[on] * (p[on].log() - q[on].log())).sum())


def tv_noise_floor(q: Any, n: int, repeats: int = 20, seed: int = 0) -> float:
    """The mean TV between q and the histogram of n i.i.d. draws from q: a perfect sampler's TV."""
    q = torch.as_tensor(q, dtype=torch.float64)
    g = make_generator(seed)
    tvs = []
    for _ in range(check_positive_int(repeats, "repeats")):
        idx = torch.multinomial(q.reshape(-1), check_positive_int(n, "n"), True, generator=g)
        hist = torch.bincount(idx, minlength=q.numel()).double() / n
        tvs.append(total_variation(hist, q.reshape(-1)))
    return sum(tvs) / len(tvs)
