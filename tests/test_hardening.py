"""Bad input to every public function gets a clear error that names the argument and what was given.

The table BAD lists what students typically pass by mistake (wrong shapes, wrong types, None, NumPy
where a tensor is needed, strings, t outside [0, 1], NaN, zero or negative sizes, unknown names) and
the argument the message must name. Each row must raise a ValueError or TypeError whose message
contains the argument's name and says what it got ("got ..."). ``test_every_public_module_is_covered``
keeps the table honest: each public module has rows, and ``python tests/test_hardening.py`` prints the
count per module.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import fmtutor as fm  # noqa: E402
import fmtutor.course  # noqa: E402
from fmtutor import (  # noqa: E402
    conventions,
    convergence,
    couplings,
    data,
    device,
    diagnostics,
    digits,
    discrete,
    discrete_training,
    exact,
    fewstep,
    fields,
    guidance,
    images,
    io,
    likelihood,
    manifold_data,
    manifolds,
    metrics,
    models,
    paths,
    recipes,
    schedules,
    sde,
    shortcut,
    solvers,
    support,
    training,
    trajectories,
)
from fmtutor.course import (  # noqa: E402
    cache,
    ch00,
    ch01,
    ch02,
    ch03,
    ch04,
    ch05,
    ch06,
    ch07,
    ch08,
    ch09,
    ch11,
    ch12,
    ch13,
    ch14,
    ch15,
    exercises,
    figures,
    i18n,
    plots,
    widgets,
)


@dataclass
class Bad:
    module: str
    what: str
    call: Callable[[], object]
    arg: str  # the name the message must contain


G = torch.Generator().manual_seed(0)
X = torch.randn(4, 2, generator=G)
X1 = torch.randn(4, 2, generator=G)
X3 = torch.randn(4, 3, generator=G)
NANX = X.clone()
NANX[1, 0] = float("nan")
INFX = X.clone()
INFX[2, 1] = float("inf")
GM = data.eight_gaussians_mixture()
NET = models.MLP(hidden=8, depth=1)
CNET = models.MLP(hidden=8, depth=1, num_classes=3)


def field(x, t):
    return -x


def wrong_shape_field(x, t):
    return x[:, :1]


def none_field(x, t):
    return None


def nan_field(x, t):
    return x * float("nan")


def _sampler(n, seed=None):
    return data.two_moons(n, seed=seed)


T0 = torch.zeros(0)


BAD: list[Bad] = [
    # ---------------------------------------------------------------- paths
    Bad("paths", "scheduler t > 1", lambda: paths.CondOTScheduler()(1.5), "t"),
    Bad("paths", "scheduler t < 0", lambda: paths.CosineScheduler()(-0.1), "t"),
    Bad("paths", "scheduler t NaN", lambda: paths.VPScheduler()(float("nan")), "t"),
    Bad("paths", "scheduler t string", lambda: paths.CondOTScheduler()("0.5"), "t"),
    Bad("paths", "scheduler t None", lambda: paths.CondOTScheduler()(None), "t"),
    Bad("paths", "polynomial n = 0", lambda: paths.PolynomialScheduler(0), "n"),
    Bad("paths", "polynomial n string", lambda: paths.PolynomialScheduler("2"), "n"),
    Bad("paths", "vp betas reversed", lambda: paths.VPScheduler(5.0, 1.0), "beta_min"),
    Bad("paths", "vp beta_max inf", lambda: paths.VPScheduler(0.1, float("inf")), "beta_max"),
    Bad("paths", "vp beta string", lambda: paths.VPScheduler("0.1", 20.0), "beta_min"),
    Bad("paths", "unknown scheduler name", lambda: paths.get_scheduler("linear"), "scheduler"),
    Bad("paths", "scheduler not a name", lambda: paths.AffinePath(3), "scheduler"),
    Bad(
        "paths",
        "sample shapes differ",
        lambda: paths.AffinePath().sample(X, X3, 0.5),
        "x_0 and x_1",
    ),
    Bad("paths", "sample t batch", lambda: paths.AffinePath().sample(X, X1, torch.rand(3)), "t"),
    Bad(
        "paths", "sample t (B, 2)", lambda: paths.AffinePath().sample(X, X1, torch.rand(4, 2)), "t"
    ),
    Bad("paths", "sample t = 1.2", lambda: paths.AffinePath().sample(X, X1, 1.2), "t"),
    Bad("paths", "sample x_0 None", lambda: paths.AffinePath().sample(None, X1, 0.5), "x_0"),
    Bad("paths", "sample x_1 string", lambda: paths.AffinePath().sample(X, "data", 0.5), "x_1"),
    Bad(
        "paths",
        "sample scalar",
        lambda: paths.AffinePath().sample(torch.tensor(1.0), torch.tensor(2.0), 0.5),
        "x_0",
    ),
    Bad(
        "paths",
        "sample complex",
        lambda: paths.AffinePath().sample(X.to(torch.complex64), X1, 0.5),
        "x_0",
    ),
    Bad("paths", "sample x_0 NaN", lambda: paths.AffinePath().sample(NANX, X1, 0.5), "x_0"),
    Bad("paths", "sample x_1 inf", lambda: paths.AffinePath().sample(X, INFX, 0.5), "x_1"),
    Bad(
        "paths",
        "cond. velocity shapes",
        lambda: paths.conditional_velocity(X, X3, 0.5),
        "x and x_1",
    ),
    Bad("paths", "cond. velocity t = 2", lambda: paths.conditional_velocity(X, X1, 2), "t"),
    Bad(
        "paths",
        "cond. velocity scheduler",
        lambda: paths.conditional_velocity(X, X1, 0.5, "nope"),
        "scheduler",
    ),
    Bad("paths", "cond. velocity x NaN", lambda: paths.conditional_velocity(NANX, X1, 0.5), "x"),
    Bad("paths", "convert dst", lambda: paths.convert(X, X1, 0.5, "velocity", "noise"), "dst"),
    Bad("paths", "convert src", lambda: paths.convert(X, X1, 0.5, "vel", "x1"), "src"),
    Bad(
        "paths",
        "convert shapes",
        lambda: paths.convert(X3, X, 0.5, "velocity", "x1"),
        "value and x",
    ),
    Bad("paths", "convert t < 0", lambda: paths.convert(X, X1, -0.5, "velocity", "x1"), "t"),
    Bad(
        "paths",
        "convert value None",
        lambda: paths.convert(None, X, 0.5, "velocity", "x1"),
        "value",
    ),
    Bad(
        "paths", "convert value NaN", lambda: paths.convert(NANX, X, 0.5, "velocity", "x1"), "value"
    ),
    # ---------------------------------------------------------------- exact
    Bad("exact", "x of wrong dimension", lambda: exact.marginal_velocity(X3, 0.5, GM), "x"),
    Bad("exact", "x 1-D", lambda: exact.marginal_velocity(torch.randn(4), 0.5, GM), "x"),
    Bad("exact", "t = 1.5", lambda: exact.marginal_velocity(X, 1.5, GM), "t"),
    Bad("exact", "target 1-D", lambda: exact.marginal_velocity(X, 0.5, torch.randn(5)), "target"),
    Bad("exact", "target a name", lambda: exact.marginal_velocity(X, 0.5, "moons"), "target"),
    Bad(
        "exact",
        "target of other dim",
        lambda: exact.marginal_velocity(X, 0.5, torch.randn(5, 3)),
        "x",
    ),
    Bad(
        "exact",
        "target empty",
        lambda: exact.marginal_velocity(X, 0.5, torch.zeros(0, 2)),
        "target",
    ),
    Bad("exact", "target NaN", lambda: exact.marginal_velocity(X, 0.5, NANX), "target"),
    Bad("exact", "log prob t NaN", lambda: exact.marginal_log_prob(X, float("nan"), GM), "t"),
    Bad("exact", "score x NaN", lambda: exact.marginal_score(NANX, 0.5, GM), "x"),
    Bad(
        "exact",
        "posterior scheduler",
        lambda: exact.posterior(X, 0.5, GM, scheduler=1),
        "scheduler",
    ),
    Bad("exact", "MarginalField target", lambda: exact.MarginalField(torch.randn(5)), "target"),
    Bad("exact", "MarginalField scheduler", lambda: exact.MarginalField(GM, "x"), "scheduler"),
    Bad("exact", "loss floor n = 0", lambda: exact.cfm_loss_floor(GM, X, n=0), "n"),
    Bad("exact", "loss floor n float", lambda: exact.cfm_loss_floor(GM, X, n=2.5), "n"),
    Bad(
        "exact",
        "loss floor samples 1-D",
        lambda: exact.cfm_loss_floor(GM, torch.randn(5), n=10),
        "sample_x1",
    ),
    # ---------------------------------------------------------------- models
    Bad("models", "dim = 0", lambda: models.MLP(dim=0), "dim"),
    Bad("models", "dim float", lambda: models.MLP(dim=2.0), "dim"),
    Bad("models", "hidden negative", lambda: models.MLP(hidden=-3), "hidden"),
    Bad("models", "depth bool", lambda: models.MLP(depth=True), "depth"),
    Bad("models", "activation", lambda: models.MLP(activation="swish"), "activation"),
    Bad("models", "num_classes = 0", lambda: models.MLP(num_classes=0), "num_classes"),
    Bad("models", "n_frequencies < 0", lambda: models.MLP(n_frequencies=-1), "n_frequencies"),
    Bad("models", "x NumPy", lambda: NET(X.numpy(), 0.5), "x"),
    Bad("models", "x (B, 3)", lambda: NET(X3, 0.5), "x"),
    Bad("models", "x 1-D", lambda: NET(torch.randn(4), 0.5), "x"),
    Bad("models", "x NaN", lambda: NET(NANX, 0.5), "x"),
    Bad("models", "t = 1.5", lambda: NET(X, 1.5), "t"),
    Bad("models", "t batch", lambda: NET(X, torch.rand(3)), "t"),
    Bad("models", "t NaN", lambda: NET(X, float("nan")), "t"),
    Bad("models", "t None", lambda: NET(X, None), "t"),
    Bad(
        "models",
        "label to unconditional",
        lambda: NET(X, 0.5, torch.zeros(4, dtype=torch.long)),
        "y",
    ),
    Bad("models", "float labels", lambda: CNET(X, 0.5, torch.zeros(4)), "y"),
    Bad("models", "label out of range", lambda: CNET(X, 0.5, torch.full((4,), 7)), "y"),
    Bad(
        "models",
        "labels of wrong length",
        lambda: CNET(X, 0.5, torch.zeros(3, dtype=torch.long)),
        "y",
    ),
    Bad("models", "time_column t batch", lambda: models.time_column(torch.rand(2), X), "t"),
    Bad("models", "x complex", lambda: NET(X.to(torch.complex64), 0.5), "x"),
    # ---------------------------------------------------------------- solvers
    Bad("solvers", "model not callable", lambda: solvers.solve("field", X, n_steps=2), "model"),
    Bad(
        "solvers",
        "unknown method",
        lambda: solvers.solve(field, X, method="rk5", n_steps=2),
        "method",
    ),
    Bad("solvers", "no grid given", lambda: solvers.solve(field, X), "n_steps"),
    Bad(
        "solvers",
        "two grids given",
        lambda: solvers.solve(field, X, n_steps=2, step_size=0.1),
        "step_size",
    ),
    Bad("solvers", "n_steps = 0", lambda: solvers.solve(field, X, n_steps=0), "n_steps"),
    Bad("solvers", "n_steps float", lambda: solvers.solve(field, X, n_steps=2.5), "n_steps"),
    Bad("solvers", "step_size < 0", lambda: solvers.solve(field, X, step_size=-0.1), "step_size"),
    Bad(
        "solvers",
        "step_size NaN",
        lambda: solvers.solve(field, X, step_size=float("nan")),
        "step_size",
    ),
    Bad(
        "solvers",
        "time_grid of one time",
        lambda: solvers.solve(field, X, time_grid=[0.0]),
        "time_grid",
    ),
    Bad(
        "solvers",
        "time_grid not monotone",
        lambda: solvers.solve(field, X, time_grid=[0, 0.5, 0.4]),
        "time_grid",
    ),
    Bad(
        "solvers",
        "time_grid 2-D",
        lambda: solvers.solve(field, X, time_grid=[[0.0, 1.0]]),
        "time_grid",
    ),
    Bad(
        "solvers",
        "time_grid NaN",
        lambda: solvers.solve(field, X, time_grid=[0, float("nan"), 1]),
        "time_grid",
    ),
    Bad("solvers", "t0 == t1", lambda: solvers.solve(field, X, n_steps=2, t0=0.5, t1=0.5), "t0"),
    Bad("solvers", "t0 NaN", lambda: solvers.solve(field, X, n_steps=2, t0=float("nan")), "t0"),
    Bad("solvers", "t1 string", lambda: solvers.solve(field, X, n_steps=2, t1="1"), "t1"),
    Bad("solvers", "t1 = 1.5", lambda: solvers.solve(field, X, n_steps=2, t1=1.5), "t1"),
    Bad("solvers", "grid past 1", lambda: solvers.solve(field, X, time_grid=[0, 2.0]), "time_grid"),
    Bad("solvers", "x_init None", lambda: solvers.solve(field, None, n_steps=2), "x_init"),
    Bad(
        "solvers",
        "x_init empty",
        lambda: solvers.solve(field, torch.zeros(0, 2), n_steps=2),
        "x_init",
    ),
    Bad(
        "solvers",
        "x_init scalar",
        lambda: solvers.solve(field, torch.tensor(1.0), n_steps=2),
        "x_init",
    ),
    Bad("solvers", "x_init NaN", lambda: solvers.solve(field, NANX, n_steps=2), "x_init"),
    Bad(
        "solvers",
        "model returns wrong shape",
        lambda: solvers.solve(wrong_shape_field, X, n_steps=2),
        "model",
    ),
    Bad("solvers", "model returns None", lambda: solvers.solve(none_field, X, n_steps=2), "model"),
    Bad("solvers", "model returns NaN", lambda: solvers.solve(nan_field, X, n_steps=2), "model"),
    Bad("solvers", "solver instance wrong", lambda: solvers.get_solver(solvers.Euler), "method"),
    # ---------------------------------------------------------------- training
    Bad(
        "training",
        "loss shapes differ",
        lambda: training.cfm_loss(NET, X, X3, torch.rand(4)),
        "x_0 and x_1",
    ),
    Bad(
        "training",
        "loss model shape",
        lambda: training.cfm_loss(wrong_shape_field, X, X1, torch.rand(4)),
        "model",
    ),
    Bad(
        "training",
        "loss model None",
        lambda: training.cfm_loss(none_field, X, X1, torch.rand(4)),
        "model",
    ),
    Bad("training", "loss t batch", lambda: training.cfm_loss(NET, X, X1, torch.rand(3)), "t"),
    Bad("training", "loss t > 1", lambda: training.cfm_loss(NET, X, X1, torch.rand(4) + 1), "t"),
    Bad("training", "loss data NaN", lambda: training.cfm_loss(NET, X, NANX, torch.rand(4)), "x_1"),
    Bad("training", "steps = 0", lambda: training.train_cfm(NET, X, steps=0), "steps"),
    Bad(
        "training",
        "batch_size = 0",
        lambda: training.train_cfm(NET, X, steps=1, batch_size=0),
        "batch_size",
    ),
    Bad(
        "training",
        "lr_schedule",
        lambda: training.train_cfm(NET, X, steps=1, lr_schedule="step"),
        "lr_schedule",
    ),
    Bad("training", "lr < 0", lambda: training.train_cfm(NET, X, steps=1, lr=-1.0), "lr"),
    Bad("training", "lr NaN", lambda: training.train_cfm(NET, X, steps=1, lr=float("nan")), "lr"),
    Bad(
        "training",
        "label_dropout 1.5",
        lambda: training.train_cfm(NET, X, steps=1, label_dropout=1.5),
        "label_dropout",
    ),
    Bad("training", "model a string", lambda: training.train_cfm("mlp", X, steps=1), "model"),
    Bad("training", "data 1-D", lambda: training.train_cfm(NET, torch.randn(10), steps=1), "data"),
    Bad("training", "data a name", lambda: training.train_cfm(NET, "moons", steps=1), "data"),
    Bad(
        "training",
        "data empty",
        lambda: training.train_cfm(NET, torch.zeros(0, 2), steps=1),
        "data",
    ),
    Bad(
        "training",
        "data NaN",
        lambda: training.train_cfm(NET, NANX, steps=1, progress=False),
        "data",
    ),
    Bad(
        "training",
        "data of other dim",
        lambda: training.train_cfm(NET, X3, steps=1, progress=False),
        "data",
    ),
    Bad(
        "training",
        "seed string",
        lambda: training.train_cfm(NET, X, steps=1, seed="a", progress=False),
        "seed",
    ),
    Bad("training", "sample n = 0", lambda: training.sample_model(NET, 0), "n"),
    Bad(
        "training",
        "labels for an unconditional model",
        lambda: training.train_cfm(NET, (X, torch.zeros(4).long()), steps=1, progress=False),
        "data",
    ),
    Bad(
        "training",
        "more labels than points",
        lambda: training.train_cfm(CNET, (X, torch.zeros(8).long()), steps=1, progress=False),
        "data",
    ),
    Bad(
        "training",
        "float labels",
        lambda: training.train_cfm(CNET, (X, torch.zeros(4)), steps=1, progress=False),
        "data",
    ),
    Bad(
        "training",
        "label_dropout, unconditional",
        lambda: training.train_cfm(NET, X, steps=1, label_dropout=0.2, progress=False),
        "label_dropout",
    ),
    Bad(
        "training",
        "sampler returns NaN",
        lambda: training.train_cfm(NET, lambda n, seed: torch.full((n, 2), float("nan")), steps=1),
        "data",
    ),
    Bad(
        "training",
        "float64 model on mps",
        lambda: training.train_cfm(models.MLP().double(), X, steps=1, device="mps"),
        "device",
    ),
    Bad("training", "loss empty batch", lambda: training.cfm_loss(NET, X[:0], X1[:0], T0), "x_0"),
    Bad("training", "sample dim = 0", lambda: training.sample_model(NET, 4, dim=0), "dim"),
    Bad("training", "sample method", lambda: training.sample_model(NET, 4, method="rk5"), "method"),
    Bad(
        "training",
        "sample n_steps = 0",
        lambda: training.sample_model(NET, 4, n_steps=0),
        "n_steps",
    ),
    Bad("training", "sample model not callable", lambda: training.sample_model("net", 4), "model"),
    Bad("recipes", "train_2d sampler a name", lambda: recipes.train_2d("moons"), "sampler"),
    Bad(
        "recipes",
        "train_2d misspelt setting",
        lambda: recipes.train_2d(_sampler, hiden=64),
        "hiden",
    ),
    # ---------------------------------------------------------------- data
    Bad("data", "n = 0", lambda: data.two_moons(0), "n"),
    Bad("data", "n negative", lambda: data.circles(-5), "n"),
    Bad("data", "n float", lambda: data.checkerboard(2.5), "n"),
    Bad("data", "n string", lambda: data.spirals("10"), "n"),
    Bad("data", "seed string", lambda: data.two_moons(10, seed="a"), "seed"),
    Bad("data", "seed float", lambda: data.eight_gaussians(10, seed=1.5), "seed"),
    Bad("data", "moons noise < 0", lambda: data.two_moons(10, noise=-1.0), "noise"),
    Bad("data", "spirals noise < 0", lambda: data.spirals(10, noise=-1.0), "noise"),
    Bad("data", "circles factor 2", lambda: data.circles(10, factor=2.0), "factor"),
    Bad("data", "unknown set", lambda: data.sample("moon", 10), "name"),
    Bad("data", "generator seed bool", lambda: data.make_generator(True), "seed"),
    Bad("data", "mixture means 1-D", lambda: data.GaussianMixture(torch.randn(3)), "means"),
    Bad(
        "data",
        "mixture covs shape",
        lambda: data.GaussianMixture(torch.randn(3, 2), torch.ones(3, 2)),
        "covs",
    ),
    Bad("data", "mixture std < 0", lambda: data.GaussianMixture(torch.randn(3, 2), -1.0), "covs"),
    Bad(
        "data",
        "mixture covs not PD",
        lambda: data.GaussianMixture(torch.randn(1, 2), -torch.eye(2)[None]),
        "covs",
    ),
    Bad(
        "data",
        "mixture weights < 0",
        lambda: data.GaussianMixture(torch.randn(3, 2), 1.0, [1, -1, 1]),
        "weights",
    ),
    Bad(
        "data",
        "mixture weights length",
        lambda: data.GaussianMixture(torch.randn(3, 2), 1.0, [1, 1]),
        "weights",
    ),
    Bad("data", "mixture means NaN", lambda: data.GaussianMixture(NANX), "means"),
    Bad("data", "mixture sample n = 0", lambda: GM.sample(0), "n"),
    Bad("data", "mixture log_prob dim", lambda: GM.log_prob(X3), "x"),
    # ---------------------------------------------------------------- metrics
    Bad("metrics", "w2 dims differ", lambda: metrics.wasserstein2(X, X3), "a and b"),
    Bad("metrics", "w2 a 1-D", lambda: metrics.wasserstein2(torch.randn(4), X), "a"),
    Bad("metrics", "w2 method", lambda: metrics.wasserstein2(X, X1, method="emd"), "method"),
    Bad("metrics", "w2 sizes differ", lambda: metrics.wasserstein2(X, X1[:3]), "a and b"),
    Bad("metrics", "w2 method auto", lambda: metrics.wasserstein2(X, X1, method="auto"), "method"),
    Bad("metrics", "noise floor n > MAX_EXACT", lambda: metrics.noise_floor(_sampler, 4001), "n"),
    Bad("metrics", "w2 NaN", lambda: metrics.wasserstein2(NANX, X1), "a"),
    Bad("metrics", "w2 b None", lambda: metrics.wasserstein2(X, None), "b"),
    # ---------------------------------------------------------------- support (issue 17)
    Bad("data", "pinwheel arms 0", lambda: data.pinwheel(4, arms=0), "arms"),
    Bad("support", "fewer than n samples", lambda: support.precision_recall(X, X1), "samples"),
    Bad("support", "dims differ", lambda: support.precision_recall(X, X3, k=1, n=4), "reference"),
    Bad("support", "n <= k", lambda: support.precision_recall(X, X1, k=5, n=4), "n"),
    Bad("support", "NaN samples", lambda: support.precision_recall(NANX, X1, k=1, n=4), "samples"),
    Bad("recipes", "coupling name", lambda: recipes.train_2d(_sampler, coupling="emd"), "coupling"),
    Bad("recipes", "pool shapes", lambda: recipes.pool_ot_pairing(X, X1[:3]), "x_1"),
    Bad(
        "metrics",
        "sliced projections 0",
        lambda: metrics.sliced_wasserstein2(X, X1, n_projections=0),
        "n_projections",
    ),
    Bad("metrics", "sliced inf", lambda: metrics.sliced_wasserstein2(X, INFX), "b"),
    Bad("metrics", "mmd one point", lambda: metrics.mmd(X[:1], X1), "a and b"),
    Bad("metrics", "mmd bandwidth 0", lambda: metrics.mmd(X, X1, bandwidths=(0.0,)), "bandwidths"),
    Bad("metrics", "mmd dims differ", lambda: metrics.mmd(X, X3), "a and b"),
    Bad("metrics", "noise floor n = 0", lambda: metrics.noise_floor(_sampler, n=0), "n"),
    Bad(
        "metrics",
        "noise floor repeats 0",
        lambda: metrics.noise_floor(_sampler, n=4, repeats=0),
        "repeats",
    ),
    Bad(
        "metrics", "noise floor sampler name", lambda: metrics.noise_floor("moons", n=4), "sampler"
    ),
    Bad(
        "metrics",
        "gaussian w2 shapes",
        lambda: metrics.gaussian_w2(np.zeros(2), np.eye(3), np.zeros(2), np.eye(2)),
        "cov1",
    ),
    Bad(
        "metrics",
        "gaussian w2 means",
        lambda: metrics.gaussian_w2(np.zeros(2), np.eye(2), np.zeros(3), np.eye(2)),
        "m2",
    ),
    Bad(
        "metrics",
        "gaussian w2 not PSD",
        lambda: metrics.gaussian_w2(np.zeros(2), -np.eye(2), np.zeros(2), np.eye(2)),
        "cov1",
    ),
    # ---------------------------------------------------------------- plots
    Bad("course.plots", "scatter (B, 3)", lambda: plots.scatter(X3), "x"),
    Bad("course.plots", "scatter None", lambda: plots.scatter(None), "x"),
    Bad("course.plots", "scatter NaN", lambda: plots.scatter(NANX), "x"),
    Bad("course.plots", "trajectories 2-D", lambda: plots.trajectories(torch.randn(5, 4)), "traj"),
    Bad("course.plots", "trajectories None", lambda: plots.trajectories(None), "traj"),
    Bad(
        "course.plots",
        "trajectories NaN",
        lambda: plots.trajectories(torch.full((3, 2, 2), float("nan"))),
        "traj",
    ),
    Bad("course.plots", "quiver field a name", lambda: plots.quiver("rotation"), "field"),
    Bad("course.plots", "quiver field shape", lambda: plots.quiver(wrong_shape_field), "field"),
    Bad("course.plots", "quiver n = 0", lambda: plots.quiver(field, n=0), "n"),
    Bad("course.plots", "quiver t = 1.5 for a model", lambda: plots.quiver(NET, t=1.5), "t"),
    Bad("course.plots", "density log_prob shape", lambda: plots.density(lambda x: x), "log_prob"),
    Bad("course.plots", "density not callable", lambda: plots.density("gm"), "log_prob"),
    Bad("course.plots", "grid n float", lambda: plots.grid_points(n=1.5), "n"),
    Bad("course.plots", "grid xlim", lambda: plots.grid_points(xlim=(1.0,)), "xlim"),
    Bad("course.plots", "figure_png None", lambda: plots.figure_png(None), "fig"),
    # ---------------------------------------------------------------- widgets
    Bad(
        "course.figures",
        "KeptFigure ncols -1",
        lambda: figures.KeptFigure((4, 3), ncols=-1),
        "ncols",
    ),
    Bad(
        "course.figures",
        "KeptFigure ncols 1.5",
        lambda: figures.KeptFigure((4, 3), ncols=1.5),
        "ncols",
    ),
    Bad("course.figures", "KeptFigure figsize zero", lambda: figures.KeptFigure((0, 3)), "figsize"),
    Bad(
        "course.figures", "KeptFigure figsize one number", lambda: figures.KeptFigure(4), "figsize"
    ),
    Bad("course.figures", "KeptFigure png dpi 0", lambda: figures.KeptFigure((4, 3)).png(0), "dpi"),
    Bad(
        "course.figures",
        "KeptFigure png dpi string",
        lambda: figures.KeptFigure((4, 3)).png("80"),
        "dpi",
    ),
    Bad("course.widgets", "LivePlot draw", lambda: widgets.LivePlot("draw", {}), "draw"),
    Bad(
        "course.widgets",
        "LivePlot controls list",
        lambda: widgets.LivePlot(lambda fig: None, [1]),
        "controls",
    ),
    Bad(
        "course.widgets",
        "LivePlot control a number",
        lambda: widgets.LivePlot(lambda fig, a: None, {"a": 3}),
        "controls",
    ),
    Bad("course.widgets", "FramePlayer one frame", lambda: widgets.FramePlayer([b"png"]), "frames"),
    Bad(
        "course.widgets",
        "FramePlayer strings",
        lambda: widgets.FramePlayer(["a.png", "b.png"]),
        "frames",
    ),
    Bad(
        "course.widgets",
        "FramePlayer interval",
        lambda: widgets.FramePlayer([b"a", b"b"], interval=0),
        "interval",
    ),
    Bad("course.widgets", "render_frames draw", lambda: widgets.render_frames("draw", 2), "draw"),
    Bad(
        "course.widgets",
        "render_frames n = 0",
        lambda: widgets.render_frames(lambda fig, i: None, 0),
        "n_frames",
    ),
    # ---------------------------------------------------------------- exercises
    Bad(
        "course.exercises", "no cases", lambda: exercises.check_function(field, field, []), "cases"
    ),
    Bad(
        "course.exercises",
        "reference not callable",
        lambda: exercises.check_function(field, "ref", [(X, 0.5)]),
        "reference",
    ),
    Bad(
        "course.exercises",
        "mistakes not a dict",
        lambda: exercises.check_function(field, field, [(X, 0.5)], mistakes=[field]),
        "mistakes",
    ),
    Bad(
        "course.exercises",
        "case not a tuple",
        lambda: exercises.check_function(field, field, [X]),
        "cases",
    ),
    Bad(
        "course.exercises",
        "result not a result",
        lambda: exercises.use_or_reference(field, True, field),
        "result",
    ),
    Bad(
        "course.exercises",
        "reference None",
        lambda: exercises.use_or_reference(
            field, exercises.ExerciseResult(False, "", "todo"), None
        ),
        "reference",
    ),
    # ---------------------------------------------------------------- couplings
    Bad("couplings", "OT sizes differ", lambda: couplings.ot_assignment(X, X1[:3]), "x_0 and x_1"),
    Bad("couplings", "OT x_0 1-D", lambda: couplings.ot_assignment(torch.randn(4), X1), "x_0"),
    Bad("couplings", "OT NaN", lambda: couplings.minibatch_ot_coupling(X, NANX), "x_1"),
    Bad(
        "couplings",
        "brute force B = 9",
        lambda: couplings.brute_force_assignment(torch.randn(9, 2), torch.randn(9, 2)),
        "x_0",
    ),
    Bad("couplings", "crossings in 3-D", lambda: couplings.count_crossings(X3, X3), "x_0"),
    Bad("couplings", "transport_cost None", lambda: couplings.transport_cost(None, X), "x_0"),
    Bad(
        "couplings",
        "straightness n_steps",
        lambda: couplings.flow_straightness(field, X, n_steps=0),
        "n_steps",
    ),
    Bad(
        "couplings",
        "straightness x_0 1-D",
        lambda: couplings.flow_straightness(field, torch.randn(4)),
        "x_0",
    ),
    Bad(
        "couplings", "straightness model", lambda: couplings.flow_straightness("field", X), "model"
    ),
    Bad(
        "course.ch07",
        "widget value",
        lambda: ch07.pairing_widget(_sampler, sizes=(4, 8), value=5),
        "value",
    ),
    Bad(
        "course.ch07",
        "widget sampler",
        lambda: ch07.pairing_widget("moons", sizes=(4, 8), value=4),
        "sampler",
    ),
    Bad("course.ch07", "plot_pairs in 3-D", lambda: ch07.plot_pairs(X3, X3), "x_0"),
    # ---------------------------------------------------------------- guidance
    Bad("guidance", "cfg shapes", lambda: guidance.cfg_velocity(X, X3, 2.0), "u_cond and u_uncond"),
    Bad("guidance", "cfg w string", lambda: guidance.cfg_velocity(X, X1, "2"), "w"),
    Bad("guidance", "cfg w NaN", lambda: guidance.cfg_velocity(X, X1, float("nan")), "w"),
    Bad("guidance", "cfg u_cond None", lambda: guidance.cfg_velocity(None, X1, 1.0), "u_cond"),
    Bad("guidance", "CFGVelocity w bool", lambda: guidance.CFGVelocity(CNET, 0, w=True), "w"),
    Bad("guidance", "CFGVelocity model", lambda: guidance.CFGVelocity("net", 0, 1.0), "model"),
    Bad("guidance", "exact field mixture", lambda: guidance.ExactConditionalField("gm"), "mixture"),
    Bad(
        "guidance",
        "exact field label 10",
        lambda: guidance.ExactConditionalField(GM)(X, 0.5, 10),
        "y",
    ),
    Bad(
        "guidance",
        "exact field float label",
        lambda: guidance.ExactConditionalField(GM)(X, 0.5, 0.5),
        "y",
    ),
    Bad(
        "guidance", "exact field t = 2", lambda: guidance.ExactConditionalField(GM)(X, 2.0, 1), "t"
    ),
    Bad("guidance", "guided n = 0", lambda: guidance.guided_sample(CNET, 0, 1.0, n=0), "n"),
    Bad("guidance", "guided y float", lambda: guidance.guided_sample(CNET, 0.5, 1.0, n=4), "y"),
    Bad("guidance", "metrics samples dim", lambda: guidance.guidance_metrics(X3, 0, GM), "samples"),
    Bad("guidance", "metrics y = 99", lambda: guidance.guidance_metrics(X, 99, GM), "y"),
    Bad("guidance", "metrics mixture", lambda: guidance.guidance_metrics(X, 0, "gm"), "mixture"),
    # ---------------------------------------------------------------- schedules
    Bad("schedules", "log_snr t > 1", lambda: schedules.log_snr(1.5, "condot"), "t"),
    Bad("schedules", "log_snr scheduler", lambda: schedules.log_snr(0.5, "foo"), "scheduler"),
    Bad(
        "schedules", "autograd t string", lambda: schedules.derivatives_autograd("a", "condot"), "t"
    ),
    Bad("schedules", "snr map r = 2", lambda: schedules.snr_time_map(2.0, "cosine", "condot"), "r"),
    Bad(
        "schedules",
        "snr map iters 0",
        lambda: schedules.snr_time_map(0.5, "cosine", "condot", iters=0),
        "iters",
    ),
    Bad(
        "trajectories",
        "straightness traj 2-D",
        lambda: trajectories.straightness(torch.randn(3, 4), torch.linspace(0, 1, 3)),
        "traj",
    ),
    Bad(
        "trajectories",
        "straightness times",
        lambda: trajectories.straightness(torch.randn(3, 4, 2), torch.linspace(0, 1, 4)),
        "times",
    ),
    Bad(
        "trajectories",
        "straightness times repeat",
        lambda: trajectories.straightness(torch.randn(3, 4, 2), torch.tensor([0.0, 0.0, 1.0])),
        "times",
    ),
    Bad(
        "trajectories",
        "length ratio 2-D",
        lambda: trajectories.path_length_ratio(torch.randn(3, 4)),
        "traj",
    ),
    Bad("course.ch09", "widget shapes", lambda: ch09.schedule_widget(X3, X3), "x_0, x_1"),
    Bad(
        "course.ch09",
        "widget scheduler",
        lambda: ch09.schedule_widget(X, X1, ("linear",)),
        "scheduler",
    ),
    # ---------------------------------------------------------------- sde
    Bad("sde", "beta s > 1", lambda: sde.vp_beta(1.5), "s"),
    Bad("sde", "beta s NaN", lambda: sde.vp_beta(float("nan")), "s"),
    Bad("sde", "beta scheduler", lambda: sde.vp_beta(0.5, "condot"), "scheduler"),
    Bad("sde", "coefficients s batch", lambda: sde.vp_sde_coefficients(X, torch.rand(3)), "s"),
    Bad("sde", "drift g_t batch", lambda: sde.sde_drift(field, X, 0.5, torch.ones(3)), "g_t"),
    Bad("sde", "coefficients x 1-D", lambda: sde.vp_sde_coefficients(torch.randn(4), 0.5), "x"),
    Bad("sde", "pf drift score shape", lambda: sde.pf_ode_drift(X, 0.5, X3), "score"),
    Bad("sde", "drift g_t string", lambda: sde.sde_drift(field, X, 0.5, "a"), "g_t"),
    Bad("sde", "drift model", lambda: sde.sde_drift("field", X, 0.5, 1.0), "model"),
    Bad("sde", "EM x_init 1-D", lambda: sde.euler_maruyama(field, torch.randn(4)), "x_init"),
    Bad(
        "sde", "EM diffusion < 0", lambda: sde.euler_maruyama(field, X, diffusion=-1.0), "diffusion"
    ),
    Bad(
        "sde",
        "EM diffusion string",
        lambda: sde.euler_maruyama(field, X, diffusion="a"),
        "diffusion",
    ),
    Bad("sde", "EM n_steps 0", lambda: sde.euler_maruyama(field, X, n_steps=0), "n_steps"),
    Bad("sde", "EM model", lambda: sde.euler_maruyama("field", X, n_steps=2), "model"),
    Bad("sde", "EM x_init NaN", lambda: sde.euler_maruyama(field, NANX, n_steps=2), "x_init"),
    # ---------------------------------------------------------------- likelihood
    Bad(
        "likelihood", "jacobian x 1-D", lambda: likelihood.jacobian(field, torch.randn(4), 0.5), "x"
    ),
    Bad(
        "likelihood",
        "jacobian model shape",
        lambda: likelihood.jacobian(wrong_shape_field, X, 0.5),
        "model",
    ),
    Bad("likelihood", "jacobian model", lambda: likelihood.jacobian("field", X, 0.5), "model"),
    Bad(
        "likelihood", "divergence x NaN", lambda: likelihood.divergence_exact(field, NANX, 0.5), "x"
    ),
    Bad(
        "likelihood",
        "hutchinson probes 0",
        lambda: likelihood.divergence_hutchinson(field, X, 0.5, n_probes=0),
        "n_probes",
    ),
    Bad(
        "likelihood",
        "hutchinson noise",
        lambda: likelihood.divergence_hutchinson(field, X, 0.5, noise="uniform"),
        "noise",
    ),
    Bad(
        "likelihood",
        "hutchinson z shape",
        lambda: likelihood.divergence_hutchinson(field, X, 0.5, z=X),
        "z",
    ),
    Bad(
        "likelihood",
        "variance jac",
        lambda: likelihood.hutchinson_variance(torch.randn(2, 3)),
        "jac",
    ),
    Bad(
        "likelihood",
        "variance noise",
        lambda: likelihood.hutchinson_variance(torch.eye(2), noise="x"),
        "noise",
    ),
    Bad(
        "likelihood",
        "normal x 1-D",
        lambda: likelihood.standard_normal_log_prob(torch.randn(4)),
        "x",
    ),
    Bad(
        "likelihood",
        "estimator",
        lambda: likelihood.log_likelihood(field, X, estimator="mc"),
        "estimator",
    ),
    Bad(
        "likelihood", "n_steps 0", lambda: likelihood.log_likelihood(field, X, n_steps=0), "n_steps"
    ),
    Bad(
        "likelihood",
        "method",
        lambda: likelihood.log_likelihood(field, X, n_steps=2, method="x"),
        "method",
    ),
    Bad("likelihood", "chunk 0", lambda: likelihood.log_prob_fn(field, chunk=0), "chunk"),
    Bad(
        "likelihood",
        "log_p0 of wrong shape",
        lambda: likelihood.log_likelihood(field, X, n_steps=1, log_p0=lambda z: z),
        "log_p0",
    ),
    Bad("course.ch08", "widget target", lambda: ch08.likelihood_widget(X, X), "target"),
    Bad("course.ch08", "widget x", lambda: ch08.likelihood_widget(GM, X3), "x"),
    # ---------------------------------------------------------------- fields
    Bad("fields", "rotation omega string", lambda: fields.rotation("fast"), "omega"),
    Bad("fields", "sink rate NaN", lambda: fields.sink(float("nan")), "rate"),
    Bad("fields", "linear matrix 3x3", lambda: fields.LinearField(torch.eye(3)), "matrix"),
    Bad("fields", "mover start", lambda: fields.MassMover(start=(1.0, 2.0, 3.0)), "start"),
    Bad("fields", "mover rate < 0", lambda: fields.MassMover(rate=-1.0), "rate"),
    Bad("fields", "unknown field", lambda: fields.get_field("swirl"), "name"),
    Bad("fields", "field x (B, 3)", lambda: fields.rotation()(X3, 0.0), "x"),
    Bad("fields", "field t batch", lambda: fields.sink()(X, torch.rand(3)), "t"),
    Bad("fields", "field t NaN", lambda: fields.spiral()(X, float("nan")), "t"),
    Bad("fields", "field x NaN", lambda: fields.spiral()(NANX, 0.0), "x"),
    Bad(
        "likelihood",
        "divergence field a name",
        lambda: likelihood.divergence_exact("rotation", X, 0.0),
        "model",
    ),
    Bad(
        "likelihood",
        "divergence field shape",
        lambda: likelihood.divergence_exact(wrong_shape_field, X, 0.0),
        "model",
    ),
    Bad(
        "trajectories",
        "path_length 2-D",
        lambda: trajectories.path_length(torch.randn(3, 4)),
        "traj",
    ),
    Bad(
        "trajectories",
        "kinetic times",
        lambda: trajectories.kinetic_energy(torch.randn(3, 4, 2), torch.rand(2)),
        "times",
    ),
    Bad("metrics", "kl std 0", lambda: metrics.gaussian_kl(0.0, 0.0, 0.0, 1.0), "std_p"),
    Bad("metrics", "kl std NaN", lambda: metrics.gaussian_kl(0.0, 1.0, 0.0, float("nan")), "std_q"),
    Bad(
        "metrics",
        "log-lik x 2-D",
        lambda: metrics.gaussian_log_likelihood(torch.randn(3, 2), 0.0, 1.0),
        "x",
    ),
    Bad(
        "metrics",
        "log-lik std < 0",
        lambda: metrics.gaussian_log_likelihood(torch.randn(3), 0.0, -1.0),
        "std",
    ),
    Bad("course.ch00", "mle m = 1", lambda: ch00.mle_explorer(m=1), "m"),
    Bad("course.ch00", "transport n = 0", lambda: ch00.transport_frames(n=0), "n"),
    Bad("course.ch01", "unknown field", lambda: ch01.field_explorer(["vortex"]), "name"),
    Bad("course.ch02", "grid lines 1", lambda: ch02.grid_lines(n_lines=1), "n_lines"),
    Bad("course.ch02", "flow_frames field", lambda: ch02.flow_frames(3), "field"),
    Bad(
        "course.ch02",
        "flow_frames n_frames",
        lambda: ch02.flow_frames("sink", n_frames=1),
        "n_frames",
    ),
    Bad("course.ch03", "path_frames n = 0", lambda: ch03.path_frames(n=0), "n"),
    Bad("course.ch03", "path_explorer n = 0", lambda: ch03.path_explorer(n=0), "n"),
    Bad("course.ch03", "path_explorer n_grid odd", lambda: ch03.path_explorer(n_grid=5), "n_grid"),
    # ---------------------------------------------------------------- device
    Bad(
        "device",
        "FMTUTOR_DEVICE gpu",
        lambda: _with_env("FMTUTOR_DEVICE", "gpu", device.default_device),
        "FMTUTOR_DEVICE",
    ),
    Bad(
        "device",
        "FMTUTOR_DEVICE absent",
        lambda: _with_env("FMTUTOR_DEVICE", "cuda:7", device.default_device),
        "FMTUTOR_DEVICE",
    ),
]


def _with_env(key: str, value: str, fn: Callable[[], object]) -> object:
    import os

    old = os.environ.get(key)
    os.environ[key] = value
    try:
        return fn()
    finally:
        if old is None:
            del os.environ[key]
        else:
            os.environ[key] = old


X64 = torch.randn(3, 64, generator=G)

BAD += [
    # ---------------------------------------------------------------- io
    Bad("io", "save a string", lambda: io.save_model("mlp", "/tmp/x.pt"), "model"),
    Bad(
        "io",
        "save an nn.Linear",
        lambda: io.save_model(torch.nn.Linear(2, 2), "/tmp/x.pt"),
        "model",
    ),
    Bad(
        "io",
        "save extra object",
        lambda: io.save_model(NET, "/tmp/fmtutor-hardening-x.pt", f=object()),
        "extra",
    ),
    Bad("io", "load missing", lambda: io.load_model("/nonexistent/model.pt"), "model.pt"),
    # ---------------------------------------------------------------- course.cache
    Bad(
        "course.cache",
        "cached train_fn",
        lambda: cache.cached_model("/tmp/fmtutor-hardening-c.pt", "train", {}),
        "train_fn",
    ),
    Bad("course.cache", "cached name a path", lambda: cache.cached("a/b.pt", NET, {}), "name"),
    Bad("course.cache", "cached name empty", lambda: cache.cached("", NET, {}), "name"),
    # ---------------------------------------------------------------- course (setup)
    Bad(
        "course", "setup seed string", lambda: fmtutor.course.setup(seed="1", verbose=False), "seed"
    ),
    Bad(
        "course",
        "setup threads 0",
        lambda: fmtutor.course.setup(threads=0, verbose=False),
        "threads",
    ),
    Bad(
        "course",
        "setup device gpu",
        lambda: fmtutor.course.setup(device="gpu", verbose=False),
        "device",
    ),
    # ---------------------------------------------------------------- images
    Bad("images", "to_images width", lambda: images.to_images(torch.randn(3, 10)), "x"),
    Bad("images", "to_images side 0", lambda: images.to_images(X64, side=0), "side"),
    Bad("images", "tile count", lambda: images.tile_images(torch.randn(5, 64), 2, 2), "x"),
    Bad("images", "tile rows 0", lambda: images.tile_images(torch.randn(4, 64), 0, 2), "rows"),
    Bad("images", "split n_test 0", lambda: images.split_digits(n_test=0), "n_test"),
    Bad("images", "split n_test too big", lambda: images.split_digits(n_test=5000), "n_test"),
    Bad("images", "classifier split", lambda: images.fit_digit_classifier("split"), "split"),
    Bad(
        "images",
        "quality labels",
        lambda: images.sample_quality(X64, [0, 1], "clf", X64),
        "labels",
    ),
    Bad(
        "images",
        "quality classifier",
        lambda: images.sample_quality(X64, [0, 1, 2], "clf", X64),
        "classifier",
    ),
    # ---------------------------------------------------------------- digits
    Bad("digits", "model misspelt", lambda: digits.digit_model(hiden=3), "overrides"),
    Bad("digits", "float labels", lambda: digits.sample_digits(CNET, [0.5]), "labels"),
    Bad("digits", "no labels", lambda: digits.sample_digits(CNET, []), "labels"),
    # ---------------------------------------------------------------- course.ch11
    Bad("course.ch11", "grid empty", lambda: ch11.image_grid(torch.zeros(0, 64)), "x"),
    Bad("course.ch11", "grid pad < 0", lambda: ch11.image_grid(X64, pad=-1), "pad"),
    Bad("course.ch11", "grid NaN", lambda: ch11.image_grid(X64 * float("nan")), "x"),
    Bad("course.ch11", "show_grid width", lambda: ch11.show_grid(torch.randn(2, 10)), "x"),
    # ---------------------------------------------------------------- course.ch04, ch05, ch06
    Bad(
        "course.ch04",
        "cond. vs marginal data",
        lambda: ch04.conditional_vs_marginal(X3, X[0]),
        "data",
    ),
    Bad(
        "course.ch04",
        "cond. vs marginal x1",
        lambda: ch04.conditional_vs_marginal(X, X3[0]),
        "x1",
    ),
    Bad(
        "course.ch04",
        "cond. vs marginal particles",
        lambda: ch04.conditional_vs_marginal(X, X[0], n_particles=0),
        "n_particles",
    ),
    Bad("course.ch05", "loss curve steps", lambda: ch05.LossCurve(0), "total_steps"),
    Bad("course.ch05", "loss curve every", lambda: ch05.LossCurve(10, every=0), "every"),
    Bad(
        "course.ch05",
        "field comparison target",
        lambda: ch05.field_comparison(NET, X3),
        "target",
    ),
    Bad("course.ch06", "steps explorer x0", lambda: ch06.steps_explorer(field, X3, X), "x0"),
    Bad(
        "course.ch06",
        "steps explorer reference",
        lambda: ch06.steps_explorer(field, X, X3),
        "reference",
    ),
    # ---------------------------------------------------------------- diagnostics
    Bad("diagnostics", "mc t = 1", lambda: diagnostics.marginal_velocity_mc(X, 1.0, X1), "t"),
    Bad(
        "diagnostics",
        "mc samples dim",
        lambda: diagnostics.marginal_velocity_mc(X, 0.5, X3),
        "x1_samples",
    ),
    Bad(
        "diagnostics",
        "mc x 1-D",
        lambda: diagnostics.marginal_velocity_mc(torch.randn(4), 0.5, X1),
        "x",
    ),
    Bad("diagnostics", "cfm vs fm n", lambda: diagnostics.compare_cfm_fm(NET, X, n=0), "n"),
    Bad(
        "diagnostics",
        "cfm vs fm data",
        lambda: diagnostics.compare_cfm_fm(NET, torch.randn(4)),
        "data",
    ),
    Bad("diagnostics", "loss by time n", lambda: diagnostics.loss_by_time(NET, X, n=0), "n"),
    # ---------------------------------------------------------------- convergence
    Bad(
        "convergence",
        "fit_order lengths",
        lambda: convergence.fit_order([1.0, 2.0], [1.0]),
        "h and errors",
    ),
    Bad(
        "convergence",
        "fit_order zero error",
        lambda: convergence.fit_order([1.0, 2.0], [0.0, 1.0]),
        "h and errors",
    ),
    Bad(
        "convergence",
        "study method",
        lambda: convergence.convergence_study(field, X, methods=("rk5",)),
        "methods",
    ),
    Bad(
        "convergence",
        "study one step count",
        lambda: convergence.convergence_study(field, X, n_steps=(4,)),
        "n_steps",
    ),
    Bad(
        "convergence",
        "study exact shape",
        lambda: convergence.convergence_study(field, X, exact=X3),
        "exact",
    ),
    Bad(
        "convergence",
        "nfe budget 0",
        lambda: convergence.quality_vs_nfe(field, X, nfe=(0,)),
        "nfe",
    ),
    Bad(
        "convergence",
        "nfe method",
        lambda: convergence.quality_vs_nfe(field, X, methods=("x",)),
        "methods",
    ),
    Bad(
        "convergence",
        "nfe reference",
        lambda: convergence.quality_vs_nfe(field, torch.randn(4)),
        "reference",
    ),
]


# ---------------------------------------------------------------- chapters 12-15's modules
S3 = torch.nn.functional.normalize(torch.randn(4, 3, generator=G), dim=1)

BAD += [
    Bad(
        "conventions", "unknown convention", lambda: conventions.get_convention("sd3"), "convention"
    ),
    Bad(
        "conventions", "model not callable", lambda: conventions.to_course(3, "diffusers"), "model"
    ),
    Bad("conventions", "shift_sigmas n_steps 0", lambda: conventions.shift_sigmas(0), "n_steps"),
    Bad(
        "fewstep", "reflow n_steps 0", lambda: fewstep.reflow_pairs(field, X, n_steps=0), "n_steps"
    ),
    Bad("fewstep", "reflow x_0 1-d", lambda: fewstep.reflow_pairs(field, torch.randn(4)), "x_0"),
    Bad(
        "shortcut",
        "sampler with 0 steps",
        lambda: shortcut.shortcut_sample(lambda x, t, d: x, X, 0),
        "n_steps",
    ),
    Bad("shortcut", "step beyond 1", lambda: shortcut.step_field(lambda x, t, d: x, 2.0), "d"),
    Bad("shortcut", "model not callable", lambda: shortcut.shortcut_sample(3, X, 2), "model"),
    Bad(
        "shortcut",
        "a step past t = 1",
        lambda: shortcut.shortcut_loss(
            lambda x, t, d: x, X, X1, torch.full((4,), 0.8), torch.full((4,), 0.5)
        ),
        "t, d",
    ),
    Bad("course.i18n", "unknown language", lambda: i18n.set_language("fr"), "lang"),
    Bad("course.i18n", "language not a string", lambda: i18n.set_language(None), "lang"),
    Bad(
        "fewstep", "distill pairs of two shapes", lambda: fewstep.distill_loss(field, X, X3), "x_0"
    ),
    Bad(
        "manifolds",
        "geodesic off the sphere",
        lambda: manifolds.Sphere().geodesic(X3, S3, 0.5),
        "x_0",
    ),
    Bad(
        "manifolds",
        "solve off the sphere",
        lambda: manifolds.solve_on_manifold(field, manifolds.Sphere(), X3, n_steps=4),
        "x_init",
    ),
    Bad(
        "manifold_data", "vmf kappa < 0", lambda: manifold_data.sample_vmf(S3[0], -1.0, 10), "kappa"
    ),
    Bad("manifold_data", "vmf mu in 2-d", lambda: manifold_data.sample_vmf(X[0], 1.0, 10), "mu"),
    Bad(
        "manifold_data",
        "resultant kappa 0",
        lambda: manifold_data.vmf_mean_resultant_length(0.0),
        "kappa",
    ),
    Bad(
        "discrete",
        "rate rows not summing to 0",
        lambda: discrete.check_rate_matrix(torch.ones(3, 3)),
        "q",
    ),
    Bad(
        "discrete",
        "transition t < 0",
        lambda: discrete.transition_matrix(torch.zeros(3, 3), -1.0),
        "t",
    ),
    Bad("discrete", "unknown source", lambda: discrete.MixturePath(5, source="gauss"), "source"),
    Bad(
        "discrete_training",
        "tv shapes",
        lambda: discrete_training.total_variation(torch.ones(3) / 3, torch.ones(4) / 4),
        "q",
    ),
    Bad(
        "discrete_training",
        "kl shapes",
        lambda: discrete_training.kl_divergence(torch.ones(3) / 3, torch.ones(4) / 4),
        "q",
    ),
    Bad("discrete_training", "vocab 0", lambda: discrete_training.TokenPosteriorNet(0, 2), "vocab"),
    Bad("course.ch12", "flow traj 2-d", lambda: ch12.sphere_flow_widget(torch.randn(5, 3)), "traj"),
    Bad(
        "course.ch12",
        "flow n_show 0",
        lambda: ch12.sphere_flow_widget(torch.randn(5, 4, 3), n_show=0),
        "n_show",
    ),
    Bad(
        "course.ch13",
        "grid model source",
        lambda: ch13.grid_model("gauss", verbose=False),
        "source",
    ),
    Bad("course.ch13", "plot a 1-d law", lambda: ch13.plot_law(torch.ones(7)), "p"),
    Bad(
        "course.ch14",
        "distilled 0 steps",
        lambda: ch14.distilled_model(0, verbose=False),
        "n_steps",
    ),
    Bad(
        "course.ch14",
        "distilled -1 steps",
        lambda: ch14.distilled_model(-1, verbose=False),
        "n_steps",
    ),
    Bad("course.ch15", "clocks model", lambda: ch15.clocks_widget(3, X, X1), "model"),
    Bad(
        "course.ch15", "clocks x0 1-d", lambda: ch15.clocks_widget(field, torch.randn(4), X1), "x0"
    ),
]


@pytest.mark.parametrize("bad", BAD, ids=[f"{b.module}-{b.what}" for b in BAD])
def test_bad_input_gets_a_clear_error(bad: Bad):
    with pytest.raises((ValueError, TypeError)) as info:
        bad.call()
    msg = str(info.value)
    assert re.search(rf"(?<![\w]){re.escape(bad.arg)}(?![\w])", msg), (
        f"the message does not name {bad.arg!r}: {msg}"
    )
    assert re.search(r"\bgot\b|\bgiven\b|\bno such\b|\bcannot (save|store) an? \w+", msg, re.I), (
        f"the message does not say what was given: {msg}"
    )


#: modules without rows, and why; every other module of fmtutor and fmtutor.course needs at least two
NOT_COVERED = {
    "course.animation": "frame helpers called by the chapter modules with values they checked",
    "course.ch01": "field_explorer's only argument checked on its own is the field name (one row)",
    "course.ch10": "guidance_widget does not check its mixture (a bad one fails in the plot's draw)",
}


def _modules() -> list[str]:
    """Every module of the package: the math floor's (fm.__all__) and the course's (fmtutor/course/*.py)."""
    from pathlib import Path

    math = [m for m in fm.__all__ if isinstance(getattr(fm, m, None), type(fm))]
    course_dir = Path(fmtutor.course.__file__).parent
    course = ["course"] + [f"course.{p.stem}" for p in sorted(course_dir.glob("[!_]*.py"))]
    return math + course


def test_every_public_module_is_covered():
    counts = Counter(b.module for b in BAD)
    modules = [m for m in _modules() if m not in NOT_COVERED]
    assert "paths" in modules and "course.ch00" in modules and "course.plots" in modules
    missing = [m for m in sorted(set(modules)) if counts[m] < 2]
    assert not missing, f"public modules without bad-input rows: {missing}"
    unknown = sorted(set(counts) - set(_modules()))
    assert not unknown, f"rows name modules that do not exist: {unknown}"


if __name__ == "__main__":  # the per-module count for the report
    counts = Counter(b.module for b in BAD)
    for m, c in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"{m:12s} {c}")
    print(f"{'total':12s} {sum(counts.values())}")
