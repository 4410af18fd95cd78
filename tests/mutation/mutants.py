"""The catalogue of deliberate mistakes: each one a formula of fmtutor broken the way people break it.

Each ``Mutant`` names the mistake, says what it patches, and lists the chapters whose own checks use
the formula (in the order to try: cheapest kill first) and the unit-test files that test it. The
catalogue must be killed completely: by at least one chapter's assert and by the unit tests
(tests/mutation/test_mutants.py). ``CONTROLS`` are the harness's own checks: a mutant that changes
nothing must survive, and mutants that raise (an exception, or an AssertionError inside the package)
must be classified "crashed", never "killed".

``apply(name)`` patches the running process (a notebook kernel, a pytest session) and returns the
Patcher that undoes it.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from .patching import Patcher

__all__ = ["Mutant", "CATALOGUE", "CONTROLS", "ALL", "apply", "CHAPTERS"]

#: Chapter numbers and their notebooks (notebooks/NN_*.ipynb).
CHAPTERS = tuple(f"{i:02d}" for i in range(16))


@dataclass(frozen=True)
class Mutant:
    """A deliberate mistake.

    Attributes:
        name: a short identifier.
        description: the mistake, in one line.
        patches: what is patched (dotted names).
        chapters: the chapters that use the formula, cheapest kill first.
        unit_tests: unit-test files (paths from the repository root) that test the formula.
        apply: patches the running process through a Patcher.
        expect: 'killed' for the catalogue; a control's expected class ('survived', 'crashed').
    """

    name: str
    description: str
    patches: str
    chapters: tuple[str, ...]
    unit_tests: tuple[str, ...]
    apply: Callable[[Patcher], None]
    expect: str = "killed"


CATALOGUE: dict[str, Mutant] = {}
CONTROLS: dict[str, Mutant] = {}


def mutant(name, description, patches, chapters, unit_tests, expect="killed"):
    """Register the decorated ``apply(p: Patcher)`` as a mutant (a control unless expect='killed')."""

    def register(fn: Callable[[Patcher], None]) -> Callable[[Patcher], None]:
        m = Mutant(name, description, patches, tuple(chapters), tuple(unit_tests), fn, expect)
        (CATALOGUE if expect == "killed" else CONTROLS)[name] = m
        return fn

    return register


def _fm():
    import fmtutor as fm

    return fm


def _like(old: Callable, new: Callable) -> Callable:
    """``new`` with the name, docstring and signature of ``old`` (so that repr and inspect agree)."""
    return functools.update_wrapper(new, old)


def _out(t: torch.Tensor, alpha, sigma, d_alpha, d_sigma):
    from fmtutor.paths import SchedulerOutput

    return SchedulerOutput(alpha, sigma, d_alpha, d_sigma)


T_PATHS, T_SCHED, T_EXACT = "tests/test_paths.py", "tests/test_schedules.py", "tests/test_exact.py"
T_SOLVERS, T_TRAIN, T_RECIPES = (
    "tests/test_solvers.py",
    "tests/test_training.py",
    "tests/test_recipes.py",
)
T_COUPL, T_LIK, T_GUID = (
    "tests/test_couplings.py",
    "tests/test_likelihood.py",
    "tests/test_guidance.py",
)
T_SDE, T_METRICS, T_DATA = "tests/test_sde.py", "tests/test_metrics.py", "tests/test_data.py"
T_FIELDS, T_DIAG = "tests/test_fields.py", "tests/test_diagnostics.py"


# --- paths and schedulers ----------------------------------------------------------------------------
@mutant(
    "condot_dsigma_sign",
    "CondOT's d sigma_t / dt written +1 instead of -1",
    "fmtutor.paths.CondOTScheduler._evaluate",
    ["04", "09", "03"],
    [T_PATHS],
)
def _(p: Patcher) -> None:
    def _evaluate(self, t):
        return _out(t, t, 1 - t, torch.ones_like(t), torch.ones_like(t))

    p.attr(_fm().paths.CondOTScheduler, "_evaluate", _evaluate)


@mutant(
    "condot_time_reversed",
    "CondOT with t and 1 - t swapped: alpha_t = 1 - t, sigma_t = t (derivatives consistent)",
    "fmtutor.paths.CondOTScheduler._evaluate",
    ["03", "04", "09"],
    [T_PATHS],
)
def _(p: Patcher) -> None:
    def _evaluate(self, t):
        return _out(t, 1 - t, t, -torch.ones_like(t), torch.ones_like(t))

    p.attr(_fm().paths.CondOTScheduler, "_evaluate", _evaluate)


@mutant(
    "cosine_derivative_dropped",
    "cosine scheduler's derivatives without the chain rule's factor pi/2",
    "fmtutor.paths.CosineScheduler._evaluate",
    ["09"],
    [T_PATHS, T_SCHED],
)
def _(p: Patcher) -> None:
    def _evaluate(self, t):
        a, b = 0.5 * math.pi * t, 0.5 * math.pi * (1 - t)
        return _out(t, torch.sin(a), torch.sin(b), torch.sin(b), -torch.sin(a))

    p.attr(_fm().paths.CosineScheduler, "_evaluate", _evaluate)


@mutant(
    "path_sigma_alpha_swapped",
    "the affine path with alpha_t and sigma_t swapped: x_t = alpha_t x_0 + sigma_t x_1",
    "fmtutor.paths.AffinePath.sample, fmtutor.paths.AffinePath._sample",
    ["05", "03"],
    [T_PATHS, T_TRAIN],
)
def _(p: Patcher) -> None:
    path = _fm().paths.AffinePath
    sample, _sample = path.sample, path._sample

    def sample_swapped(self, x_0, x_1, t):
        ps = sample(self, x_1, x_0, t)
        return dataclasses.replace(ps, x_0=ps.x_1, x_1=ps.x_0)

    p.attr(path, "sample", _like(sample, sample_swapped))
    p.attr(path, "_sample", _like(_sample, lambda self, x_0, x_1, t: _sample(self, x_1, x_0, t)))


# --- conditional and marginal velocities -----------------------------------------------------------------
@mutant(
    "cond_velocity_missing_one_minus_t",
    "conditional velocity without the division by sigma_t = 1 - t",
    "fmtutor.paths.conditional_velocity",
    ["04", "03"],
    [T_PATHS],
)
def _(p: Patcher) -> None:
    fm = _fm()
    from fmtutor._validate import as_tensor, times_like

    def conditional_velocity(x, x_1, t, scheduler="condot"):
        x = as_tensor(x, "x", finite=True)
        x_1 = as_tensor(x_1, "x_1", like=x, finite=True)
        s = fm.paths.get_scheduler(scheduler)(times_like(t, x))
        return s.d_alpha_t * x_1 + s.d_sigma_t * (x - s.alpha_t * x_1)

    old = fm.paths.conditional_velocity
    p.function(fm.paths, "conditional_velocity", _like(old, conditional_velocity))


@mutant(
    "posterior_not_normalised",
    "posterior weights divided by their largest value instead of their sum",
    "fmtutor.exact._weighted_posterior, fmtutor.exact._point_weights",
    ["04", "07", "00"],
    [T_EXACT],
)
def _(p: Patcher) -> None:
    exact = _fm().exact
    weighted, point = exact._weighted_posterior, exact._point_weights

    def weighted_posterior(x, t, target, scheduler):
        w, m1, m0, s = weighted(x, t, target, scheduler)
        return w / w.amax(1, keepdim=True), m1, m0, s

    def point_weights(x, a, sig, points):
        w = point(x, a, sig, points)
        return w / w.amax(1, keepdim=True)

    p.function(exact, "_weighted_posterior", _like(weighted, weighted_posterior))
    p.function(exact, "_point_weights", _like(point, point_weights))


@mutant(
    "score_sign",
    "the exact score with the wrong sign: +E[X_0 | x] / sigma_t",
    "fmtutor.exact.marginal_score",
    ["09"],
    [T_EXACT],
)
def _(p: Patcher) -> None:
    exact = _fm().exact
    old = exact.marginal_score
    p.function(exact, "marginal_score", _like(old, lambda *a, **k: -old(*a, **k)))


# --- solvers -------------------------------------------------------------------------------------------
@mutant(
    "midpoint_at_t",
    "midpoint's second evaluation at time t instead of t + h/2",
    "fmtutor.solvers.Midpoint.step",
    ["04", "06", "03"],
    [T_SOLVERS],
)
def _(p: Patcher) -> None:
    def step(self, f, x, t, h):
        return x + h * f(x + 0.5 * h * f(x, t), t)

    p.attr(_fm().solvers.Midpoint, "step", step)


@mutant(
    "euler_step_sign",
    "Euler step with the wrong sign: x - h u_t(x)",
    "fmtutor.solvers.Euler.step",
    ["02"],
    [T_SOLVERS],
)
def _(p: Patcher) -> None:
    p.attr(_fm().solvers.Euler, "step", lambda self, f, x, t, h: x - h * f(x, t))


@mutant(
    "rk4_weights",
    "RK4 with the weights on the wrong stages: (2 k1 + k2 + k3 + 2 k4) / 6 (second order)",
    "fmtutor.solvers.RK4.step",
    ["02"],
    [T_SOLVERS],
)
def _(p: Patcher) -> None:
    def step(self, f, x, t, h):
        k1 = f(x, t)
        k2 = f(x + 0.5 * h * k1, t + 0.5 * h)
        k3 = f(x + 0.5 * h * k2, t + 0.5 * h)
        k4 = f(x + h * k3, t + h)
        return x + h / 6 * (2 * k1 + k2 + k3 + 2 * k4)

    p.attr(_fm().solvers.RK4, "step", step)


# --- training --------------------------------------------------------------------------------------------
@mutant(
    "cfm_target_reversed",
    "the training loop regresses onto x_0 - x_1 instead of x_1 - x_0",
    "fmtutor.paths.AffinePath._sample (the training loop's draw)",
    ["07", "05", "08"],
    [T_TRAIN],
)
def _(p: Patcher) -> None:
    path = _fm().paths.AffinePath
    old = path._sample

    def _sample(self, x_0, x_1, t):
        x_t, dx_t = old(self, x_0, x_1, t)
        return x_t, -dx_t

    p.attr(path, "_sample", _like(old, _sample))


@mutant(
    "xt_t_swapped",
    "the training loop's x_t with t and 1 - t swapped: x_t = t x_0 + (1 - t) x_1",
    "fmtutor.paths.AffinePath._sample (the training loop's draw)",
    ["07", "05", "08"],
    [T_TRAIN],
)
def _(p: Patcher) -> None:
    path = _fm().paths.AffinePath
    old = path._sample

    def _sample(self, x_0, x_1, t):
        return old(self, x_0, x_1, 1 - t)[0], old(self, x_0, x_1, t)[1]

    p.attr(path, "_sample", _like(old, _sample))


@mutant(
    "cfm_loss_mean_not_sum",
    "the CFM loss averaged over coordinates instead of summed (the loss divided by d)",
    "fmtutor.training._squared_error",
    ["05"],
    [T_TRAIN],
)
def _(p: Patcher) -> None:
    training = _fm().training
    old = training._squared_error
    new = lambda pred, target: ((pred - target) ** 2).flatten(1).mean(1).mean()  # noqa: E731
    p.function(training, "_squared_error", _like(old, new))


@mutant(
    "mlp_ignores_time",
    "the network never sees t (its time input is zero)",
    "fmtutor.models.MLP._velocity (behind MLP.forward)",
    ["05"],
    [T_RECIPES],
)
def _(p: Patcher) -> None:
    mlp = _fm().models.MLP
    old = mlp._velocity
    p.attr(mlp, "_velocity", lambda self, x, tc, y=None: old(self, x, torch.zeros_like(tc), y))


@mutant(
    "label_dropout_ignored",
    "train_cfm never replaces a label by 'no label' (label_dropout ignored, still validated)",
    "fmtutor.training.train_cfm",
    ["10"],
    [T_TRAIN, T_GUID],
)
def _(p: Patcher) -> None:
    import inspect

    training = _fm().training
    old = training.train_cfm
    signature = inspect.signature(old)

    def train_cfm(*a, **k):
        bound = signature.bind(*a, **k)
        args = bound.arguments
        labelled = isinstance(args.get("data"), tuple)  # a (pool, labels) pair
        classes = getattr(args.get("model"), "num_classes", None)
        if labelled and isinstance(classes, int) and 0 < args.get("label_dropout", 0.0) < 1:
            args["label_dropout"] = 0.0  # valid, so the checks pass; then never applied
        return old(*bound.args, **bound.kwargs)

    p.function(training, "train_cfm", _like(old, train_cfm))


# --- couplings -----------------------------------------------------------------------------------------
@mutant(
    "ot_identity",
    "the OT assignment replaced by the identity (pairs kept as drawn)",
    "fmtutor.couplings.ot_assignment",
    ["07", "00"],
    [T_COUPL],
)
def _(p: Patcher) -> None:
    couplings = _fm().couplings
    old = couplings.ot_assignment

    def ot_assignment(x_0, x_1):
        x_0, _ = couplings._pair(x_0, x_1)
        return torch.arange(x_0.shape[0], device=x_0.device)

    p.function(couplings, "ot_assignment", _like(old, ot_assignment))


@mutant(
    "ot_greedy",
    "the OT assignment replaced by greedy nearest partners (each x_0 in turn takes the closest left)",
    "fmtutor.couplings.ot_assignment",
    ["07", "00"],
    [T_COUPL],
)
def _(p: Patcher) -> None:
    couplings = _fm().couplings
    old = couplings.ot_assignment

    def ot_assignment(x_0, x_1):
        x_0, x_1 = couplings._pair(x_0, x_1)
        cost = torch.cdist(x_0.detach().double().cpu(), x_1.detach().double().cpu())
        perm = []
        for i in range(cost.shape[0]):
            j = int(torch.argmin(cost[i]))
            perm.append(j)
            cost[:, j] = math.inf
        return torch.tensor(perm, dtype=torch.int64, device=x_0.device)

    p.function(couplings, "ot_assignment", _like(old, ot_assignment))


# --- likelihood ----------------------------------------------------------------------------------------
@mutant(
    "divergence_sign",
    "the exact divergence with the wrong sign",
    "fmtutor.likelihood._vel_div_exact (behind divergence_exact and log_likelihood)",
    ["01", "08"],
    [T_LIK],
)
def _(p: Patcher) -> None:
    likelihood = _fm().likelihood
    old = likelihood._vel_div_exact

    def vel_div(model, x, t):
        u, div = old(model, x, t)
        return u, -div

    p.function(likelihood, "_vel_div_exact", _like(old, vel_div))


@mutant(
    "hutchinson_probe_scale",
    "Hutchinson probes 10% too large (E[z z^T] = 1.21 I: the estimate is biased)",
    "fmtutor.likelihood._probes",
    ["08"],
    [T_LIK],
)
def _(p: Patcher) -> None:
    likelihood = _fm().likelihood
    old = likelihood._probes
    p.function(likelihood, "_probes", _like(old, lambda *a, **k: 1.1 * old(*a, **k)))


# --- guidance and diffusion ------------------------------------------------------------------------------
@mutant(
    "cfg_wrong_term",
    "guidance weight on the wrong term: u_cond + w (u_uncond - u_cond)",
    "fmtutor.guidance.cfg_velocity",
    ["10", "11"],
    [T_GUID],
)
def _(p: Patcher) -> None:
    guidance = _fm().guidance
    old = guidance.cfg_velocity
    new = lambda u_cond, u_uncond, w: old(u_uncond, u_cond, w)  # noqa: E731
    p.function(guidance, "cfg_velocity", _like(old, new))


@mutant(
    "sde_score_drift_sign",
    "the SDE's extra drift with the wrong sign: u_t - g_t^2 score_t / 2",
    "fmtutor.sde.sde_drift",
    ["09"],
    [T_SDE],
)
def _(p: Patcher) -> None:
    fm = _fm()
    from fmtutor._validate import as_tensor

    def sde_drift(model, x, t, g_t, scheduler="condot"):
        u = model(x, t)
        g_t = as_tensor(g_t, "g_t", like=x)
        if float(g_t.abs().max()) == 0.0:
            return u
        return u - 0.5 * g_t**2 * fm.paths.convert(u, x, t, "velocity", "score", scheduler)

    p.function(fm.sde, "sde_drift", _like(fm.sde.sde_drift, sde_drift))


@mutant(
    "vp_drift_sign",
    "the forward VP-SDE drift with the wrong sign: f(x, s) = +beta(s) x / 2",
    "fmtutor.sde.vp_sde_coefficients",
    ["09"],
    [T_SDE],
)
def _(p: Patcher) -> None:
    sde = _fm().sde
    old = sde.vp_sde_coefficients

    def coefficients(*a, **k):
        f, g = old(*a, **k)
        return -f, g

    p.function(sde, "vp_sde_coefficients", _like(old, coefficients))


# --- metrics and data ------------------------------------------------------------------------------------
@mutant(
    "w2_no_sqrt",
    "W2 without the square root (the mean squared matching cost)",
    "fmtutor.metrics.wasserstein2",
    ["05", "06", "07", "09", "10"],
    [T_METRICS],
)
def _(p: Patcher) -> None:
    metrics = _fm().metrics
    old = metrics.wasserstein2
    p.function(metrics, "wasserstein2", _like(old, lambda *a, **k: old(*a, **k) ** 2))


@mutant(
    "sliced_w2_no_sqrt",
    "sliced W2 without the square root",
    "fmtutor.metrics.sliced_wasserstein2",
    ["11"],
    [T_METRICS],
)
def _(p: Patcher) -> None:
    metrics = _fm().metrics
    old = metrics.sliced_wasserstein2
    p.function(metrics, "sliced_wasserstein2", _like(old, lambda *a, **k: old(*a, **k) ** 2))


@mutant(
    "kl_missing_half",
    "the Gaussian KL without its -1/2",
    "fmtutor.metrics.gaussian_kl",
    ["00"],
    [T_METRICS],
)
def _(p: Patcher) -> None:
    metrics = _fm().metrics
    old = metrics.gaussian_kl
    p.function(metrics, "gaussian_kl", _like(old, lambda *a, **k: old(*a, **k) + 0.5))


@mutant(
    "mixture_sample_spread",
    "GaussianMixture.sample with its noise level 20% too high",
    "fmtutor.data.GaussianMixture.sample",
    ["00", "03"],
    [T_DATA],
)
def _(p: Patcher) -> None:
    mixture = _fm().data.GaussianMixture
    old = mixture.sample

    def sample(self, n, seed=None, return_labels=False):
        x, k = old(self, n, seed, return_labels=True)
        m = self.means[k].to(x.device)
        x = (m + 1.2 * (x.double() - m)).to(torch.float32)
        return (x, k) if return_labels else x

    p.attr(mixture, "sample", _like(old, sample))


@mutant(
    "moons_noise_doubled",
    "two moons with noise 0.1 instead of 0.05 by default",
    "fmtutor.data.two_moons",
    ["04", "05"],
    [T_DATA],
)
def _(p: Patcher) -> None:
    data = _fm().data
    old = data.two_moons

    def two_moons(n, noise=0.1, seed=None):
        return old(n, noise, seed)

    p.function(data, "two_moons", _like(old, two_moons))


# --- example fields --------------------------------------------------------------------------------------
@mutant(
    "linear_flow_sign",
    "the closed-form flow of a linear field as exp(-t A) x instead of exp(t A) x",
    "fmtutor.fields.LinearField._flow",
    ["02", "03"],
    [T_FIELDS],
)
def _(p: Patcher) -> None:
    def _flow(self, x, t):
        from fmtutor.fields import _apply

        return _apply(torch.linalg.matrix_exp(-t[:, :, None] * self.matrix.to(x)), x)

    p.attr(_fm().fields.LinearField, "_flow", _flow)


# --- the loose checks of issue 13: one mutant each, mapped to that chapter alone -------------------------
def _scaled_field(factor: float) -> Callable[[Patcher], None]:
    def apply_(p: Patcher) -> None:
        field = _fm().exact.MarginalField
        old = field.forward
        p.attr(field, "forward", _like(old, lambda self, x, t: factor * old(self, x, t)))

    return apply_


mutant(
    "field_10pct_fast",
    "the exact marginal field 10% too fast",
    "fmtutor.exact.MarginalField.forward",
    ["00"],
    [T_EXACT],
)(_scaled_field(1.1))

mutant(
    "field_10pct_slow",
    "the exact marginal field 10% too slow",
    "fmtutor.exact.MarginalField.forward",
    ["03"],
    [T_EXACT],
)(_scaled_field(0.9))


def _undertrained(steps: int) -> Callable[[Patcher], None]:
    def apply_(p: Patcher) -> None:
        p.item(_fm().recipes.DEFAULT_2D["train"], "steps", steps)

    return apply_


mutant(
    "undertrained_100",
    "the default 2-D recipe trains 100 steps instead of 3000",
    "fmtutor.recipes.DEFAULT_2D['train']['steps']",
    ["05"],
    [T_RECIPES],
)(_undertrained(100))

mutant(
    "undertrained_300",
    "the default 2-D recipe trains 300 steps instead of 3000",
    "fmtutor.recipes.DEFAULT_2D['train']['steps']",
    ["05"],
    [T_RECIPES],
)(_undertrained(300))


@mutant(
    "mc_draws_repeat",
    "compare_cfm_fm's Monte-Carlo draws repeat after 3200 (its noise stops shrinking like 1/sqrt(n))",
    "fmtutor.diagnostics.compare_cfm_fm",
    ["04"],
    [T_DIAG],
)
def _(p: Patcher) -> None:
    diagnostics = _fm().diagnostics
    old = diagnostics.compare_cfm_fm

    def compare(model, data, n=20000, seed=0, scheduler="condot"):
        # the mean over n draws that repeat the first 3200 equals the mean over those 3200
        return dataclasses.replace(old(model, data, min(int(n), 3200), seed, scheduler), n=n)

    p.function(diagnostics, "compare_cfm_fm", _like(old, compare))


# --- controls: the harness must be able to say "survived" and "crashed" --------------------------------
@mutant("control_noop", "changes nothing", "nothing", ["01"], [T_FIELDS], expect="survived")
def _(p: Patcher) -> None:
    pass


@mutant(
    "control_raises",
    "every solve raises a RuntimeError",
    "fmtutor.solvers.Solver.integrate",
    ["02"],
    [T_SOLVERS],
    expect="crashed",
)
def _(p: Patcher) -> None:
    def integrate(self, *a: Any, **k: Any):
        raise RuntimeError("control mutant: the solver is broken")

    p.attr(_fm().solvers.Solver, "integrate", integrate)


@mutant(
    "control_asserts_inside",
    "an AssertionError raised inside the package (not by a check): a crash, not a kill",
    "fmtutor.solvers.Solver.integrate",
    ["02"],
    [T_SOLVERS],
    expect="crashed",
)
def _(p: Patcher) -> None:
    def integrate(self, *a: Any, **k: Any):
        assert False, "control mutant: an assert inside fmtutor"

    p.attr(_fm().solvers.Solver, "integrate", integrate)


# --- chapter 15: other codebases' conventions -------------------------------------------------------
T_CONV = "tests/test_conventions.py"


@mutant(
    "conv_sign_ignored",
    "to_course / from_course ignore the convention's sign (diffusers' noise - data kept as is)",
    "fmtutor.conventions.to_course, fmtutor.conventions.from_course",
    ["15"],
    [T_CONV, "tests/course/test_ch15.py"],
)
def _(p: Patcher) -> None:
    cv = _fm().conventions

    def to_course(model, convention):
        c = cv.get_convention(convention)
        return lambda x, t: model(x, cv.from_course_time(t, c).to(x.dtype))

    def from_course(velocity, convention):
        c = cv.get_convention(convention)
        return lambda x, s: velocity(x, cv.to_course_time(s, c).to(x.dtype))

    p.function(cv, "to_course", _like(cv.to_course, to_course))
    p.function(cv, "from_course", _like(cv.from_course, from_course))


@mutant(
    "conv_clock_not_flipped",
    "conversions of time that forget s = 1 - t where the noise sits at 1 (sigma used as t)",
    "fmtutor.conventions.to_course_time, fmtutor.conventions.from_course_time",
    ["15"],
    [T_CONV],
)
def _(p: Patcher) -> None:
    cv = _fm().conventions
    p.function(
        cv,
        "to_course_time",
        _like(cv.to_course_time, lambda s, c: torch.as_tensor(s) / cv.get_convention(c).scale),
    )
    p.function(
        cv,
        "from_course_time",
        _like(cv.from_course_time, lambda t, c: cv.get_convention(c).scale * torch.as_tensor(t)),
    )


@mutant(
    "conv_scale_dropped",
    "the network fed s instead of scale * s (diffusers' sigma instead of its 1000 sigma)",
    "fmtutor.conventions.from_course_time",
    ["15"],
    [T_CONV],
)
def _(p: Patcher) -> None:
    cv = _fm().conventions
    old = cv.from_course_time

    def from_course_time(t, convention):
        return old(t, convention) / cv.get_convention(convention).scale

    p.function(cv, "from_course_time", _like(old, from_course_time))


@mutant(
    "shift_sigmas_unwarped",
    "diffusers' shift ignored: the sigma grid stays uniform",
    "fmtutor.conventions.shift_sigmas",
    ["15"],
    [T_CONV],
)
def _(p: Patcher) -> None:
    cv = _fm().conventions
    old = cv.shift_sigmas
    p.function(cv, "shift_sigmas", _like(old, lambda n_steps, shift=1.0: old(n_steps)))


# --- chapter 12: flow matching on manifolds -----------------------------------------------------------
T_MAN, T_MAN_DATA = "tests/test_manifolds.py", "tests/test_manifold_data.py"


@mutant(
    "sphere_log_sin_length",
    "the sphere's log map of length |v| = sin(theta) instead of the angle theta",
    "fmtutor.manifolds.Sphere.log",
    ["12"],
    [T_MAN],
)
def _(p: Patcher) -> None:
    p.attr(_fm().manifolds.Sphere, "log", lambda self, x, y: y - (x * y).sum(-1, keepdim=True) * x)


@mutant(
    "geodesic_unit_speed",
    "the sphere's geodesic velocity without the factor theta = d(x_0, x_1) (unit speed)",
    "fmtutor.manifolds.Sphere._geodesic",
    ["12"],
    [T_MAN],
)
def _(p: Patcher) -> None:
    sphere = _fm().manifolds.Sphere
    old = sphere._geodesic

    def _geodesic(self, x_0, u, t):
        x_t, dx_t = old(self, x_0, u, t)
        return x_t, dx_t / u.norm(dim=-1, keepdim=True).clamp_min(1e-12)

    p.attr(sphere, "_geodesic", _geodesic)


@mutant(
    "torus_log_unwrapped",
    "the torus log map y - x without wrapping to the shortest difference",
    "fmtutor.manifolds.FlatTorus.log",
    ["12"],
    [T_MAN],
)
def _(p: Patcher) -> None:
    p.attr(_fm().manifolds.FlatTorus, "log", lambda self, x, y: y - x)


@mutant(
    "riemannian_loss_unprojected",
    "the Riemannian CFM loss on the raw network output, without the tangent projection",
    "fmtutor.manifolds.riemannian_cfm_loss",
    ["12"],
    [T_MAN],
)
def _(p: Patcher) -> None:
    man = _fm().manifolds

    def riemannian_cfm_loss(model, manifold, x_0, x_1, t):
        ps = manifold.geodesic(x_0, x_1, t)
        return ((model(ps.x_t, ps.t) - ps.dx_t) ** 2).sum(-1).mean()

    p.function(man, "riemannian_cfm_loss", _like(man.riemannian_cfm_loss, riemannian_cfm_loss))


@mutant(
    "manifold_step_euclidean",
    "the manifold sampler steps x + h u (Euclidean) instead of exp_x(h u)",
    "fmtutor.manifolds.solve_on_manifold",
    ["12"],
    [T_MAN],
)
def _(p: Patcher) -> None:
    man = _fm().manifolds
    old = man.solve_on_manifold

    class _Flat:  # the manifold with its exp map replaced by a straight step
        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def exp(self, x, u):
            return x + u

    def solve_on_manifold(model, manifold, x_init, n_steps=20, method="midpoint", **kw):
        return old(model, _Flat(manifold), x_init, n_steps, method, **kw)

    p.function(man, "solve_on_manifold", _like(old, solve_on_manifold))


@mutant(
    "vmf_kappa_doubled",
    "the vMF sampler draws the cosine with 2 kappa (a bump twice as concentrated)",
    "fmtutor.manifold_data.sample_vmf",
    ["12"],
    [T_MAN_DATA],
)
def _(p: Patcher) -> None:
    data = _fm().manifold_data
    old = data.sample_vmf
    p.function(
        data, "sample_vmf", _like(old, lambda mu, kappa, n, seed=None: old(mu, 2 * kappa, n, seed))
    )


# --- chapter 13: discrete flow matching -------------------------------------------------------------
T_DISC, T_DISC_TRAIN = "tests/test_discrete.py", "tests/test_discrete_training.py"


@mutant(
    "dfm_rate_no_hazard",
    "mixture-path velocities without the factor kappa'_t / (1 - kappa_t)",
    "fmtutor.discrete.MixturePath._velocity",
    ["13"],
    [T_DISC],
)
def _(p: Patcher) -> None:
    def _velocity(self, target, x, t):
        here = torch.nn.functional.one_hot(x, self.n_states).double()
        return target - here

    p.attr(_fm().discrete.MixturePath, "_velocity", _velocity)


@mutant(
    "dfm_velocity_no_delta_x",
    "the marginal velocity without its -delta_x(y) term (rows no longer sum to zero)",
    "fmtutor.discrete.MixturePath.posterior_velocity",
    ["13"],
    [T_DISC],
)
def _(p: Patcher) -> None:
    path = _fm().discrete.MixturePath
    old = path.posterior_velocity

    def posterior_velocity(self, posterior, x, t):
        u = old(self, posterior, x, t)
        rate = self.kappa.rate(torch.as_tensor(t, dtype=torch.float64).reshape(-1, 1, 1))
        return u + rate * torch.nn.functional.one_hot(torch.as_tensor(x).long(), self.n_states)

    p.attr(path, "posterior_velocity", _like(old, posterior_velocity))


@mutant(
    "dfm_path_kappa_flipped",
    "the mixture path draws x_1's token with probability 1 - kappa_t instead of kappa_t",
    "fmtutor.discrete.MixturePath.sample",
    ["13"],
    [T_DISC],
)
def _(p: Patcher) -> None:
    path = _fm().discrete.MixturePath
    old = path.sample

    def sample(self, x_0, x_1, t, seed=None):
        from fmtutor.data import make_generator
        from fmtutor.discrete import _times

        x_0, x_1 = self._tokens(x_0, "x_0"), self._tokens(x_1, "x_1", data=True)
        k = self.kappa(_times(t, x_0.shape[0]))[0][:, None]
        u = torch.rand(x_0.shape, generator=make_generator(seed), dtype=torch.float64)
        return torch.where(u < 1 - k, x_1, x_0)

    p.attr(path, "sample", _like(old, sample))


@mutant(
    "euler_jump_no_h",
    "the Euler jump step leaves x with probability lambda instead of h lambda",
    "fmtutor.discrete.jump_probabilities",
    ["13"],
    [T_DISC],
)
def _(p: Patcher) -> None:
    discrete = _fm().discrete
    old = discrete.jump_probabilities
    p.function(discrete, "jump_probabilities", _like(old, lambda x, rates, h: old(x, rates, 1.0)))


@mutant(
    "dfm_loss_mean_over_tokens",
    "the cross-entropy loss averaged over tokens instead of summed (divided by D)",
    "fmtutor.discrete_training.posterior_loss",
    ["13"],
    [T_DISC_TRAIN],
)
def _(p: Patcher) -> None:
    dt = _fm().discrete_training
    old = dt.posterior_loss

    def posterior_loss(model, x_t, t, x_1):
        return old(model, x_t, t, x_1) / torch.as_tensor(x_1).shape[1]

    p.function(dt, "posterior_loss", _like(old, posterior_loss))


@mutant(
    "tv_missing_half",
    "the total variation without its 1/2 (sum |p - q|)",
    "fmtutor.discrete_training.total_variation",
    ["13"],
    [T_DISC_TRAIN],
)
def _(p: Patcher) -> None:
    dt = _fm().discrete_training
    old = dt.total_variation
    p.function(dt, "total_variation", _like(old, lambda p_, q_: 2 * old(p_, q_)))


# --- chapter 14: few steps ---------------------------------------------------------------------------
T_FEW = "tests/test_fewstep.py"


@mutant(
    "reflow_pairs_backwards",
    "reflow's pairs from the ODE solved from t = 1 down to 0 instead of from the noise at t = 0",
    "fmtutor.fewstep.reflow_pairs",
    ["14"],
    [T_FEW],
)
def _(p: Patcher) -> None:
    fm = _fm()
    old = fm.fewstep.reflow_pairs

    def reflow_pairs(model, x_0, n_steps=100, method="midpoint"):
        with torch.no_grad():
            z_1 = fm.solvers.solve(model, x_0, method=method, n_steps=n_steps, t0=1.0, t1=0.0).x
        return x_0, z_1

    p.function(fm.fewstep, "reflow_pairs", _like(old, reflow_pairs))


@mutant(
    "distill_loss_displacement",
    "the distillation loss compares the displacement Euler_k(x_0) - x_0 with x_1 (x_0 forgotten)",
    "fmtutor.fewstep.distill_loss",
    ["14"],
    [T_FEW],
)
def _(p: Patcher) -> None:
    fm = _fm()
    old = fm.fewstep.distill_loss

    def distill_loss(model, x_0, x_1, n_steps=1):
        return ((fm.fewstep.euler_map(model, x_0, n_steps) - x_0 - x_1) ** 2).sum(1).mean()

    p.function(fm.fewstep, "distill_loss", _like(old, distill_loss))


T_SHORT = "tests/test_shortcut.py"


@mutant(
    "shortcut_target_summed",
    "the self-consistency target adds the two half-step velocities instead of averaging them",
    "fmtutor.shortcut.shortcut_targets",
    ["14"],
    [T_SHORT],
)
def _(p: Patcher) -> None:
    fm = _fm()
    old = fm.shortcut.shortcut_targets

    def shortcut_targets(model, x, t, d, d_min=1 / 64):
        return 2 * old(model, x, t, d, d_min)

    p.function(fm.shortcut, "shortcut_targets", _like(old, shortcut_targets))


@mutant(
    "shortcut_sampler_ignores_step",
    "the shortcut sampler asks the model for its instantaneous velocity (d = 0) at every step",
    "fmtutor.shortcut.shortcut_sample",
    ["14"],
    [T_SHORT],
)
def _(p: Patcher) -> None:
    fm = _fm()
    old = fm.shortcut.shortcut_sample

    def shortcut_sample(model, x_0, n_steps):
        x = x_0
        with torch.no_grad():
            for i in range(n_steps):
                x = x + model(x, i / n_steps, 0.0) / n_steps
        return x

    p.function(fm.shortcut, "shortcut_sample", _like(old, shortcut_sample))


ALL: dict[str, Mutant] = {**CATALOGUE, **CONTROLS}


def apply(name: str) -> Patcher:
    """Apply the mutant ``name`` to this process; returns the Patcher (``.undo()`` restores)."""
    if name not in ALL:
        raise KeyError(f"name: expected one of {sorted(ALL)}, got {name!r}")
    p = Patcher()
    ALL[name].apply(p)
    return p
