"""Chapter 13 (discrete flow matching): the token grid, its cached models, widget and exercises."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as W
import torch
from matplotlib.colors import PowerNorm
from torch import Tensor

from fmtutor import discrete as D
from fmtutor import discrete_training as DT
from fmtutor.course.cache import CachedModel, cached
from fmtutor.course.exercises import ExerciseResult, check_function
from fmtutor.course.i18n import tr
from fmtutor.course.plots import new_axes
from fmtutor.course.widgets import LivePlot
from fmtutor.data import eight_gaussians_mixture

__all__ = [
    "GRID",
    "LOOP",
    "grid_target",
    "train_grid_model",
    "grid_model",
    "model_velocity",
    "plot_law",
    "marginal_widget",
    "reference_conditional_rates",
    "check_conditional_rates",
    "reference_jump_probs",
    "check_jump_probs",
    "reference_ce_loss",
    "check_ce_loss",
]

#: The chapter's target: eight Gaussians binned on a vocab x vocab grid of [-lim, lim]^2.
GRID = {"vocab": 16, "lim": 4.0, "radius": 2.8, "std": 0.45}
#: The posterior network and its training loop.
LOOP = {"hidden": 128, "depth": 2, "emb": 16, "steps": 1500, "batch_size": 256, "lr": 5e-3}


def grid_target(**grid: Any) -> Tensor:
    """q (V, V): the eight-Gaussians density at the bin centres of GRID (overridden), normalised."""
    g = {**GRID, **grid}
    gmm = eight_gaussians_mixture(radius=g["radius"], std=g["std"])
    return D.grid_target(gmm.log_prob, g["vocab"], g["lim"])


def train_grid_model(source: str, seed: int = 0, **loop: Any) -> tuple[Any, dict[str, Any]]:
    """Train a TokenPosteriorNet on grid_target() with the mixture path from ``source``.

    Returns:
        (model, {"losses": per-step losses, "seconds": wall time}).
    """
    cfg = {**LOOP, **loop}
    path = D.MixturePath(GRID["vocab"], source)
    torch.manual_seed(seed)
    model = DT.TokenPosteriorNet(
        GRID["vocab"], path.n_states, 2, hidden=cfg["hidden"], depth=cfg["depth"], emb=cfg["emb"]
    )
    res = DT.train_posterior(
        model, path, grid_target(), cfg["steps"], cfg["batch_size"], cfg["lr"], seed
    )
    return model, {"losses": res.losses, "seconds": res.seconds}


def grid_model(source: str, verbose: bool = True) -> CachedModel:
    """The chapter's model for ``source`` ('mask' or 'uniform'): cached, or trained (seconds)."""
    config = {"chapter": 13, "source": source, "grid": GRID, "loop": LOOP}
    return cached(
        f"13_posterior_{source}.pt", lambda: train_grid_model(source), config, verbose=verbose
    )


def model_velocity(model: Any, path: D.MixturePath) -> Callable[[Tensor, float], Tensor]:
    """The learned marginal velocity: path.posterior_velocity(model.posterior(x, t), x, t)."""
    return lambda x, t: path.posterior_velocity(model.posterior(x, t), x, t)


def plot_law(p: Any, ax: Any = None, title: str = "", vmax: "float | None" = None) -> Any:
    """A law on two tokens (S, S) as an image: token 1 across, token 2 up; S = V + 1 marks M.

    With a mask state (S = GRID's V + 1) the last row and column are the sequences with a masked
    token, set apart by white lines and labelled M; the all-masked corner (M, M) is left out of the
    colour scale (it would outshine the rest) and its probability is written in it. Colours are
    on a square-root scale up to ``vmax`` (default: the largest probability shown).
    """
    p = torch.as_tensor(p, dtype=torch.float64)
    if p.ndim != 2 or p.shape[0] != p.shape[1]:
        raise ValueError(f"p: expected a law on two tokens, shape (S, S), got {tuple(p.shape)}")
    ax = new_axes(ax)
    s, masked = p.shape[0], p.shape[0] == GRID["vocab"] + 1
    rest = p.clone()
    if masked:
        rest[-1, -1] = 0.0
    top = vmax if vmax is not None else max(float(rest.max()), 1e-12)
    norm = PowerNorm(0.5, vmin=0.0, vmax=top)  # a square-root scale: faint cells stay visible
    ax.imshow(p.T.numpy(), origin="lower", cmap="magma", norm=norm, interpolation="none")
    ticks = list(range(0, s, 5))
    labels = [str(k) for k in ticks]
    if masked:
        for f in (ax.axvline, ax.axhline):
            f(s - 1.5, color="white", lw=1.5)
        ticks, labels = [*ticks, s - 1], [*labels, "M"]
        corner = float(p[-1, -1])
        ax.text(
            s - 1,
            s - 1,
            f"{corner:.2f}",
            ha="center",
            va="center",
            fontsize=6,
            color="black" if corner > 0.5 * top else "white",
        )
    ax.set_xticks(ticks, labels)
    ax.set_yticks(ticks, labels)
    ax.set(xlabel=tr("token 1"), ylabel=tr("token 2"), title=title)
    return ax


def marginal_widget(
    velocities: "dict[str, Callable[[Tensor, float], Tensor]]",
    n: int = 4000,
    n_steps: int = 100,
    seed: int = 0,
    t: float = 0.5,
) -> Any:
    """A LivePlot: a time slider and the source; the exact p_t beside the sampler's histogram.

    For each source the Euler jump sampler runs once, when the widget is built (n sequences,
    n_steps steps, its whole trajectory kept) with ``velocities[source]``; a change only picks the
    step k = t n_steps and computes the exact marginal p_t by enumeration (the TV noise floor is
    kept per source and step). The text gives TV(histogram, p_t) and the TV
    of n perfect draws from p_t (``stats`` keeps both, and t and the source).
    """
    if not isinstance(velocities, dict) or not set(velocities) <= {"mask", "uniform"}:
        raise ValueError("velocities: expected a dict with keys 'mask' and / or 'uniform'")
    q, runs, stats, floors = grid_target(), {}, {}, {}
    names = {"mask": tr("mask"), "uniform": tr("uniform")}

    def run(source: str) -> tuple[D.ExactPosterior, Tensor]:
        if source not in runs:
            path = D.MixturePath(GRID["vocab"], source)
            x0 = path.sample_source(n, 2, seed)
            traj = D.euler_jump_sample(velocities[source], x0, n_steps, seed + 1, True)
            runs[source] = D.ExactPosterior(q, path), traj
        return runs[source]

    def draw(fig: Any, t: float, source: str) -> str:
        exact, traj = run(source)
        k = int(round(t * n_steps))
        p_t = exact.marginal(k / n_steps)
        hist = DT.empirical_law(traj[k], exact.path.n_states)
        if (source, k) not in floors:
            floors[source, k] = DT.tv_noise_floor(p_t, n, repeats=5)
        tv, floor = DT.total_variation(hist, p_t), floors[source, k]
        stats.clear()
        stats.update(t=k / n_steps, source=source, tv=tv, floor=floor, step=k)
        shown = p_t.clone()
        if exact.path.mask is not None:
            shown[-1, -1] = 0.0  # the all-masked corner is written, not coloured
        vmax = max(float(shown.max()), 1e-12)
        plot_law(p_t, fig.axes[0], tr("exact $p_t$, t = {t:.2f}", t=k / n_steps), vmax)
        plot_law(hist, fig.axes[1], tr("{n} sequences, Euler step {k}", n=n, k=k), vmax)
        return tr(
            "{source} source, t = {t:.2f}: TV(sampled, exact) = {tv:.3f}; "
            "{n} perfect draws from p<sub>t</sub> give {floor:.3f}",
            source=names[source],
            t=k / n_steps,
            tv=tv,
            n=n,
            floor=floor,
        )

    controls = {
        "t": W.FloatSlider(value=t, min=0.0, max=1.0, step=0.05, description="t"),
        "source": W.ToggleButtons(
            options=[(names[s], s) for s in velocities], description=tr("source")
        ),
    }
    for source in velocities:  # both runs now: a switch of source then costs the drawing alone
        run(source)
    live = LivePlot(draw, controls, figsize=(9, 4.4), ncols=2, fixed_frame=True)
    live.stats = stats
    return live


# ------------------------------------------------------------------------------------ exercises
def _cases_rates() -> list[tuple[Tensor, Tensor, Tensor, int]]:
    g = torch.Generator().manual_seed(3)
    x1 = torch.randint(0, 5, (6, 2), generator=g)
    x = torch.where(torch.rand(6, 2, generator=g) < 0.5, x1, torch.full_like(x1, 5))
    t = torch.tensor([0.0, 0.1, 0.3, 0.5, 0.7, 0.9], dtype=torch.float64)
    return [(x, x1, t, 6), (x[:2], x1[:2], t[3:5], 6)]


def reference_conditional_rates(x: Tensor, x1: Tensor, t: Tensor, n_states: int) -> Tensor:
    """u_t(y, x^i | x_1^i) = (delta_{x_1}(y) - delta_x(y)) / (1 - t) (kappa_t = t), (B, D, S).

    The mask source's MixturePath(n_states - 1).conditional_velocity.
    """
    return D.MixturePath(n_states - 1, "mask").conditional_velocity(x, x1, t)


def check_conditional_rates(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check rates(x, x1, t, n_states) -> (B, D, S), kappa_t = t: (delta_x1 - delta_x) / (1 - t)."""

    def diff(x: Tensor, x1: Tensor, s: int) -> Tensor:
        oh = torch.nn.functional.one_hot
        return (oh(x1, s) - oh(x, s)).double()

    col = lambda t: t[:, None, None]  # noqa: E731
    mistakes = {
        tr(
            "the factor kappa'_t / (1 - kappa_t) = 1 / (1 - t) is missing: the rates must grow as "
            "t approaches 1, or tokens would not all have reached x_1 by then."
        ): (lambda x, x1, t, s: diff(x, x1, s)),
        tr("you multiplied by (1 - t); the factor is kappa'_t / (1 - kappa_t) = 1 / (1 - t)."): (
            lambda x, x1, t, s: diff(x, x1, s) * col(1 - t)
        ),
        tr(
            "you divided by t: the rate is kappa'_t / (1 - kappa_t), the chance per unit time of "
            "jumping among the tokens that have not jumped yet."
        ): (lambda x, x1, t, s: diff(x, x1, s) / col(t.clamp_min(1e-3))),
        tr(
            "the -delta_x(y) term is missing: the rates out of x must be balanced on the diagonal, "
            "so that every row sums to zero."
        ): lambda x, x1, t, s: torch.nn.functional.one_hot(x1, s).double() / col(1 - t),
    }
    return check_function(
        student, reference_conditional_rates, _cases_rates(), mistakes, verbose=verbose
    )


def _cases_jump() -> list[tuple[Tensor, Tensor, float]]:
    path = D.MixturePath(5, "uniform")
    exact = D.ExactPosterior(grid_target(vocab=5, lim=4.0), path)
    x = D.all_states(5, 2)[::3]
    return [(x, exact.velocity(x, 0.3), 0.05), (x[:4], exact.velocity(x[:4], 0.8), 0.02)]


def reference_jump_probs(x: Tensor, rates: Tensor, h: float) -> Tensor:
    """One Euler step's law of each next token, delta_x + h u (B, D, S): D.jump_probabilities."""
    return D.jump_probabilities(x, rates, h)


def check_jump_probs(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check jump_probs(x, rates, h) -> (B, D, S) = delta_x + h u (cases with h lambda <= 1)."""

    def here(x: Tensor, u: Tensor) -> Tensor:
        return torch.nn.functional.one_hot(x, u.shape[-1]).to(u.dtype)

    mistakes = {
        tr(
            "delta_x is missing: h u alone is the change of the law in one step, not the law; a "
            "token "
            "stays where it is with probability 1 - h lambda."
        ): lambda x, u, h: h * u,
        tr("the step size h is missing: delta_x + u is a rate, not a probability."): (
            lambda x, u, h: here(x, u) + u
        ),
        tr("delta_x - h u: the rates point from x to y, so the step adds h u."): (
            lambda x, u, h: here(x, u) - h * u
        ),
        tr(
            "you kept the staying probability at 1: the diagonal rate u(x, x) = -lambda must lower "
            "it to 1 - h lambda, or the probabilities sum to more than one."
        ): (lambda x, u, h: here(x, u) + h * u * (1 - here(x, u))),
    }
    return check_function(student, reference_jump_probs, _cases_jump(), mistakes, verbose=verbose)


def _cases_ce() -> list[tuple[Tensor, Tensor]]:
    g = torch.Generator().manual_seed(5)
    logits = torch.randn(8, 2, 6, generator=g, requires_grad=True)
    x1 = torch.randint(0, 6, (8, 2), generator=g)
    logits_3 = torch.randn(3, 3, 4, generator=g, requires_grad=True)
    return [(logits, x1), (logits_3, torch.randint(0, 4, (3, 3), generator=g))]


def reference_ce_loss(logits: Tensor, x1: Tensor) -> Tensor:
    """sum_i -log softmax(logits)[i, x_1^i], mean over the batch: DT.posterior_loss's formula."""
    return DT.posterior_loss(lambda x, t: logits, x1, 0.5, x1)


def check_ce_loss(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check ce_loss(logits (B, D, V), x1 (B, D)) -> scalar: summed over tokens, batch-averaged."""

    def picked(lg: Tensor, x1: Tensor, log: bool = True) -> Tensor:
        p = torch.log_softmax(lg, -1) if log else torch.softmax(lg, -1)
        return p.gather(-1, x1[..., None])[..., 0]

    mistakes = {
        tr(
            "you averaged over the tokens as well: the loss sums -log p over the D tokens of a "
            "sequence (one term per token) and averages over the batch only."
        ): (lambda lg, x1: -picked(lg, x1).mean()),
        tr("you summed over the batch: average over the B sequences."): (
            lambda lg, x1: -picked(lg, x1).sum()
        ),
        tr("the log is missing: cross-entropy is -log p(x_1 | x_t), not -p(x_1 | x_t)."): (
            lambda lg, x1: -picked(lg, x1, log=False).sum(1).mean()
        ),
        tr(
            "the logits are not normalised: take log_softmax first (the logits are "
            "log-probabilities "
            "only up to a constant per token)."
        ): lambda lg, x1: -lg.gather(-1, x1[..., None]).sum((1, 2)).mean(),
    }
    return check_function(student, reference_ce_loss, _cases_ce(), mistakes, verbose=verbose)
