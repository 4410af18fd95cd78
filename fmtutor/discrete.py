"""Discrete flow matching: CTMC rates, factorised mixture paths, probability velocities, jumps.

States are sequences x = (x^1, ..., x^D) of tokens. Data tokens are 0..V-1; the mask source adds
one more state, the mask token M = V, so a token takes S = V + 1 values (S = V for the uniform
source). A probability velocity (rates) is a tensor u of shape (B, D, S): u[b, i, y] is the rate
at which token i of sequence b jumps to y; u[b, i, x^i] = -sum_{y != x^i} u[b, i, y], so each row
sums to zero (a row of a CTMC generator, d/dt p_t = p_t Q_t with row vectors p_t).

The mixture path (per token, independently): X_t^i = X_1^i with probability kappa_t, else X_0^i,

    p_t(x^i | x_0, x_1) = (1 - kappa_t) delta_{x_0}(x^i) + kappa_t delta_{x_1}(x^i),
    u_t(y, x^i | x_1) = kappa'_t / (1 - kappa_t) (delta_{x_1}(y) - delta_{x^i}(y)),

and the marginal velocity replaces delta_{x_1} by the posterior p_{1|t}(y | x_t) of token i.
"""

__all__ = [
    "PolynomialKappa",
    "MixturePath",
    "check_rate_matrix",
    "transition_matrix",
    "all_states",
    "generator_matrix",
    "ExactPosterior",
    "grid_target",
    "jump_probabilities",
    "euler_jump_step",
    "euler_jump_sample",
    "euler_law",
]

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ._validate import check_callable, check_number, check_positive_int
from .data import make_generator

Rates = Callable[[Tensor, float], Tensor]


class PolynomialKappa:
    """The scheduler kappa_t = t^power (kappa_0 = 0, kappa_1 = 1) and its derivative.

    ``kappa(t) -> (kappa_t, d kappa_t / dt)``; ``rate(t) = kappa'_t / (1 - kappa_t)``, the factor
    of every mixture-path velocity (1 / (1 - t) for power 1), infinite at t = 1.
    """

    def __init__(self, power: float = 1.0) -> None:
        self.power = check_number(power, "power", minimum=0.0, strict=True)

    def __call__(self, t: Any) -> tuple[Tensor, Tensor]:
        t = torch.as_tensor(t, dtype=torch.float64) if not isinstance(t, Tensor) else t
        return t**self.power, self.power * t ** (self.power - 1)

    def rate(self, t: Any) -> Tensor:
        """kappa'_t / (1 - kappa_t), the jump intensity of a token that has not reached x_1."""
        k, dk = self(t)
        return dk / (1 - k)

    def __repr__(self) -> str:
        return f"PolynomialKappa(power={self.power:g})"


class MixturePath:
    """The factorised mixture path from a mask or uniform source to data tokens 0..vocab-1.

    Args:
        vocab: V, the number of data tokens.
        source: 'mask' (X_0 = M = V for every token, S = V + 1 states) or 'uniform' (X_0^i
            uniform on 0..V-1, S = V states).
        kappa: the scheduler (default PolynomialKappa(1): kappa_t = t).
    """

    def __init__(self, vocab: int, source: str = "mask", kappa: Any = None) -> None:
        self.vocab = check_positive_int(vocab, "vocab", minimum=2)
        if source not in ("mask", "uniform"):
            raise ValueError(f"source: expected 'mask' or 'uniform', got {source!r}")
        self.source, self.kappa = source, kappa if kappa is not None else PolynomialKappa(1.0)
        self.n_states = vocab + 1 if source == "mask" else vocab
        self.mask = vocab if source == "mask" else None

    def source_probs(self) -> Tensor:
        """p(x_0^i), one token's source law over the S states, shape (S,), float64."""
        if self.mask is not None:
            return torch.nn.functional.one_hot(torch.tensor(self.mask), self.n_states).double()
        return torch.full((self.vocab,), 1.0 / self.vocab, dtype=torch.float64)

    def sample_source(self, n: int, dims: int, seed: Any = None) -> Tensor:
        """n sequences of ``dims`` source tokens, shape (n, dims), int64."""
        g = make_generator(seed)
        if self.mask is not None:
            return torch.full((n, dims), self.mask, dtype=torch.long)
        return torch.randint(0, self.vocab, (n, dims), generator=g)

    def sample(self, x_0: Tensor, x_1: Tensor, t: Any, seed: Any = None) -> Tensor:
        """X_t (B, D): each token is x_1's with probability kappa_t, else x_0's; t float or (B,)."""
        x_0, x_1 = self._tokens(x_0, "x_0"), self._tokens(x_1, "x_1", data=True)
        if x_0.shape != x_1.shape:
            raise ValueError(f"x_1: expected the shape of x_0 {tuple(x_0.shape)}, got {x_1.shape}")
        k = self.kappa(_times(t, x_0.shape[0]))[0][:, None]
        u = torch.rand(x_0.shape, generator=make_generator(seed), dtype=torch.float64)
        return torch.where(u < k, x_1, x_0)

    def conditional_velocity(self, x: Tensor, x_1: Tensor, t: Any) -> Tensor:
        """u_t(y, x^i | x_1^i) = kappa'/(1 - kappa) (delta_{x_1}(y) - delta_x(y)), (B, D, S)."""
        x, x_1 = self._tokens(x, "x"), self._tokens(x_1, "x_1", data=True)
        one_hot = torch.nn.functional.one_hot(x_1, self.n_states).double()
        return self._velocity(one_hot, x, t)

    def posterior_velocity(self, posterior: Tensor, x: Tensor, t: Any) -> Tensor:
        """The marginal velocity from p_{1|t}(y | x) (B, D, V): rate (p_{1|t}(y|x) - delta_x(y))."""
        x = self._tokens(x, "x")
        posterior = torch.as_tensor(posterior)
        if posterior.shape != (*x.shape, self.vocab):
            raise ValueError(
                f"posterior: expected shape {(*x.shape, self.vocab)} (B, D, V), "
                f"got {tuple(posterior.shape)}"
            )
        pad = self.n_states - self.vocab  # the mask token is never a data token: p_{1|t}(M) = 0
        return self._velocity(torch.nn.functional.pad(posterior.double(), (0, pad)), x, t)

    def _velocity(self, target: Tensor, x: Tensor, t: Any) -> Tensor:
        t = _times(t, x.shape[0])
        if float(t.max()) >= 1.0:
            raise ValueError("t: expected times below 1 (the mixture-path rate is infinite at 1)")
        here = torch.nn.functional.one_hot(x, self.n_states).double()
        return self.kappa.rate(t)[:, None, None] * (target - here)

    def _tokens(self, x: Any, name: str, data: bool = False) -> Tensor:
        x = torch.as_tensor(x)
        top = self.vocab if data else self.n_states
        if x.ndim != 2 or x.dtype.is_floating_point or x.dtype == torch.bool:
            raise ValueError(
                f"{name}: expected integer tokens of shape (B, D), got {x.dtype} {tuple(x.shape)}"
            )
        if x.numel() and (int(x.min()) < 0 or int(x.max()) >= top):
            raise ValueError(
                f"{name}: expected tokens in 0..{top - 1}, got {int(x.min())}..{int(x.max())}"
            )
        return x.long()

    def __repr__(self) -> str:
        return f"MixturePath(vocab={self.vocab}, source={self.source!r}, kappa={self.kappa})"


def _times(t: Any, n: int) -> Tensor:
    t = torch.as_tensor(t, dtype=torch.float64).reshape(-1)
    if t.numel() not in (1, n) or not bool(((t >= 0) & (t <= 1)).all()):
        raise ValueError(f"t: expected one time or {n} times in [0, 1], got {t.tolist()[:4]}")
    return t.expand(n)


def check_rate_matrix(q: Any, name: str = "q") -> Tensor:
    """A CTMC generator (S, S): off-diagonal rates >= 0 and rows summing to 0; returned float64."""
    q = torch.as_tensor(q, dtype=torch.float64)
    if q.ndim != 2 or q.shape[0] != q.shape[1]:
        raise ValueError(f"{name}: expected a square (S, S) matrix, got shape {tuple(q.shape)}")
    off = q - torch.diag(torch.diagonal(q))
    if float(off.min()) < 0 or not torch.allclose(q.sum(1), torch.zeros(len(q), dtype=q.dtype)):
        raise ValueError(
            f"{name}: expected rates >= 0 off the diagonal and rows summing to 0, got row sums "
            f"{q.sum(1).tolist()} and smallest off-diagonal rate {float(off.min()):.3g}"
        )
    return q


def transition_matrix(q: Any, t: float) -> Tensor:
    """P(t) = exp(t Q) (S, S): P[x, y] = P(X_t = y | X_0 = x), solving d/dt P = P Q, P(0) = I."""
    return torch.linalg.matrix_exp(check_number(t, "t", minimum=0.0) * check_rate_matrix(q))


def all_states(n_states: int, dims: int) -> Tensor:
    """Every sequence of ``dims`` tokens in 0..n_states-1, shape (S^D, D), in row-major order."""
    grids = torch.meshgrid(*[torch.arange(n_states)] * dims, indexing="ij")
    return torch.stack([g.reshape(-1) for g in grids], 1)


def generator_matrix(velocity: Rates, n_states: int, dims: int, t: float) -> Tensor:
    """The rate matrix Q_t (S^D, S^D) on enumerated sequences of a factorised velocity.

    Q_t[x, y] = u_t^i(y^i, x) when y differs from x in token i only, and the diagonal holds
    sum_i u_t^i(x^i, x): one token jumps at a time.
    """
    x = all_states(n_states, dims)
    u = velocity(x, t).double()  # (N, D, S)
    weights = n_states ** torch.arange(dims - 1, -1, -1)
    idx = (x * weights).sum(1)
    q = torch.zeros(len(x), len(x), dtype=torch.float64)
    for i in range(dims):
        for s in range(n_states):
            cols = idx + (s - x[:, i]) * weights[i]
            q.index_put_((idx, cols), u[:, i, s], accumulate=True)
    return q


class ExactPosterior:
    """A target q small enough to enumerate, with the exact marginal p_t and posterior p_{1|t}.

    With the independent coupling, p_t(x) = sum_{x_1} q(x_1) prod_i K_t[x_1^i, x^i], where
    K_t[y, x] = (1 - kappa_t) p_0(x) + kappa_t delta_y(x) (V, S) is one token's path.

    Args:
        q: the target probabilities, shape (V,) * D (D tokens, each 0..V-1), summing to 1.
        path: the MixturePath (its vocab must be V).
    """

    def __init__(self, q: Any, path: MixturePath) -> None:
        q = torch.as_tensor(q, dtype=torch.float64)
        if any(n != path.vocab for n in q.shape) or q.ndim < 1:
            raise ValueError(f"q: expected shape ({path.vocab},) * D, got {tuple(q.shape)}")
        if float(q.min()) < 0 or abs(float(q.sum()) - 1) > 1e-9:
            raise ValueError("q: expected probabilities (>= 0, summing to 1)")
        self.q, self.path, self.dims = q, path, q.ndim

    def _kernel(self, t: Any) -> Tensor:
        k = self.path.kappa(torch.as_tensor(t, dtype=torch.float64))[0]
        eye = torch.eye(self.path.vocab, self.path.n_states, dtype=torch.float64)
        return (1 - k) * self.path.source_probs()[None, :] + k * eye

    def marginal(self, t: Any) -> Tensor:
        """p_t(x) over all sequences, shape (S,) * D (differentiable in a tensor t)."""
        p, kern = self.q, self._kernel(t)
        for _ in range(self.dims):  # each contraction eats axis 0 and appends the new one
            p = torch.tensordot(p, kern, dims=([0], [0]))
        return p

    def posterior_table(self, t: Any) -> Tensor:
        """p_{1|t}(x_1^i = y | x) for every x, shape (S,) * D + (D, V)."""
        kern = self._kernel(t)
        both = kern[:, :, None] * torch.eye(self.path.vocab, dtype=torch.float64)[:, None, :]
        p_t, out = self.marginal(t), []
        for i in range(self.dims):
            j = self.q
            for a in range(self.dims):
                j = torch.tensordot(j, both if a == i else kern, dims=([0], [0]))
            j = j.movedim(i + 1, -1)  # the kept x_1^i axis goes last
            ok = p_t[..., None] > 0
            out.append(torch.where(ok, j / p_t[..., None].clamp_min(1e-300), 1.0 / self.q.shape[0]))
        return torch.stack(out, -2)

    def posterior(self, x: Tensor, t: float) -> Tensor:
        """p_{1|t}(y | x) per token for a batch x (B, D) at one time t, shape (B, D, V)."""
        x = self.path._tokens(x, "x")
        return self.posterior_table(t)[tuple(x.T)]

    def velocity(self, x: Tensor, t: float) -> Tensor:
        """The exact marginal probability velocity u_t(y, x), shape (B, D, S)."""
        return self.path.posterior_velocity(self.posterior(x, t), x, t)


def grid_target(log_density: Callable[[Tensor], Tensor], vocab: int, lim: float) -> Tensor:
    """A 2-D density discretised on a vocab x vocab grid of [-lim, lim]^2: q[a, b] at bin centres.

    Token a is the bin of the first coordinate, b of the second; shape (V, V), float64, sums to 1.
    """
    check_callable(log_density, "log_density", "a function of (n, 2) points returning (n,)")
    c = (torch.arange(vocab, dtype=torch.float64) + 0.5) / vocab * 2 * lim - lim
    pts = torch.stack(torch.meshgrid(c, c, indexing="ij"), -1).reshape(-1, 2)
    lp = torch.as_tensor(log_density(pts), dtype=torch.float64).reshape(vocab, vocab)
    return torch.softmax(lp.reshape(-1), 0).reshape(vocab, vocab)


def jump_probabilities(x: Tensor, rates: Tensor, h: float) -> Tensor:
    """One Euler step's law of each next token: delta_x + h u, (B, D, S).

    A token leaves x with probability min(1, h lambda), lambda = sum_{y != x} u(y), and lands on
    y with probability u(y) / lambda; for h lambda <= 1 this is exactly delta_x(y) + h u(y, x).
    """
    here = torch.nn.functional.one_hot(x, rates.shape[-1]).to(rates.dtype)
    off = (rates * (1 - here)).clamp_min(0)
    lam = off.sum(-1, keepdim=True)
    leave = (h * lam).clamp(max=1.0)
    return torch.where(lam > 0, leave * off / lam.clamp_min(1e-300), 0.0) + (1 - leave) * here


def euler_jump_step(x: Tensor, rates: Tensor, h: float, seed: Any = None) -> Tensor:
    """One Euler jump step for every token: x (B, D) int64, rates (B, D, S) -> (B, D)."""
    cdf = jump_probabilities(x, rates, h).cumsum(-1)  # inverse-CDF draw, one uniform a token
    u = torch.rand(x.shape, generator=make_generator(seed), dtype=cdf.dtype)[..., None]
    return (cdf < u * cdf[..., -1:]).sum(-1).clamp(max=cdf.shape[-1] - 1)


def euler_jump_sample(
    velocity: Rates, x_0: Tensor, n_steps: int, seed: Any = None, return_trajectory: bool = False
) -> Tensor:
    """Simulate from t = 0 to 1 with n_steps Euler jump steps at t_k = k / n_steps.

    Args:
        velocity: ``velocity(x, t) -> rates (B, D, S)``. x_0: start tokens (B, D) int64.

    Returns:
        X_1 (B, D), or the states at every t_k and 1, (n_steps + 1, B, D).
    """
    check_callable(velocity, "velocity", "a probability velocity velocity(x, t) -> (B, D, S)")
    n_steps, g = check_positive_int(n_steps, "n_steps"), make_generator(seed)
    x, h, traj = torch.as_tensor(x_0).long(), 1.0 / n_steps, []
    for k in range(n_steps):
        traj.append(x)
        x = euler_jump_step(x, velocity(x, k * h), h, g)
    return torch.stack([*traj, x]) if return_trajectory else x


def euler_law(velocity: Rates, p_0: Tensor, n_steps: int) -> Tensor:
    """The exact law of euler_jump_sample's X_1 by enumeration, from the law p_0 (S,) * D of X_0.

    Each step's transition matrix is T[x, y] = prod_i P^i(y^i | x) (jump_probabilities).
    """
    p_0 = torch.as_tensor(p_0, dtype=torch.float64)
    n_states, dims = p_0.shape[0], p_0.ndim
    x, h, p = all_states(n_states, dims), 1.0 / check_positive_int(n_steps, "n_steps"), p_0
    p = p.reshape(-1)
    for k in range(n_steps):
        probs = jump_probabilities(x, velocity(x, k * h).double(), h)  # (N, D, S)
        step = probs[:, 0]
        for i in range(1, dims):
            step = (step[:, :, None] * probs[:, i, None, :]).reshape(len(x), -1)
        p = p @ step
    return p.reshape(p_0.shape)
