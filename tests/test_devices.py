"""Devices and dtypes: one place picks the device; every function follows its inputs' device and dtype.

No GPU is needed for these checks:

* ``torch.device("meta")`` as the *default* device turns every tensor that fmtutor creates without an
  explicit ``device=`` into a meta tensor. Mixing it with the CPU inputs raises, and an output created
  from scratch comes back on "meta". So a function that passes here with CPU float64 inputs and returns
  CPU float64 outputs creates its tensors on its inputs' device: it would do the same on CUDA or MPS.
* A model moved to the meta device stands in for "a model on the GPU": sampling must put the noise
  where the model is, and feeding it CPU points must fail with a message naming the devices.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

import fmtutor as fm  # noqa: E402
from fmtutor import (  # noqa: E402
    couplings,
    data,
    device,
    diagnostics,
    exact,
    fields,
    guidance,
    images,
    likelihood,
    models,
    paths,
    schedules,
    sde,
    solvers,
    training,
    trajectories,
)

ROOT = Path(__file__).resolve().parent.parent
D = torch.float64
G = torch.Generator().manual_seed(0)
X = torch.randn(6, 2, generator=G, dtype=D)
X1 = torch.randn(6, 2, generator=G, dtype=D)
T = torch.rand(6, generator=G, dtype=D)
GM = data.eight_gaussians_mixture()
PTS = data.two_moons(20, seed=0).double()
torch.manual_seed(0)
NET = models.MLP(hidden=8, depth=1).double()
CNET = models.MLP(hidden=8, depth=1, num_classes=8).double()
EXACT = exact.MarginalField(GM)
LABELS = torch.arange(6) % 9
ZERO_LABELS = torch.zeros(6, dtype=torch.long)
GRID = torch.tensor([1.0, 0.5, 0.0], dtype=D)
TIMES3 = torch.tensor([0.0, 0.5, 1.0], dtype=D)
TIMES2 = torch.tensor([0.0, 1.0], dtype=D)
TRAJ3 = torch.stack([X, X1, X])
TRAJ2 = torch.stack([X, X1])
IMG = torch.rand(4, 64, generator=G, dtype=D)


def lin(x, t):
    return -x + t


# name -> call returning a tensor (or a tuple/dataclass whose tensors are checked)
CALLS: dict[str, Callable[[], object]] = {
    "paths.scheduler": lambda: paths.VPScheduler()(T),
    "paths.sample": lambda: paths.AffinePath("cosine").sample(X, X1, T),
    "paths.conditional_velocity": lambda: paths.conditional_velocity(X, X1, T, "vp"),
    "paths.convert": lambda: paths.convert(X, X1, T, "velocity", "score", "condot"),
    "paths.convert singular": lambda: paths.convert(X, X1, 1.0, "x1", "epsilon"),
    "exact.marginal_velocity mixture": lambda: exact.marginal_velocity(X, T, GM),
    "exact.marginal_velocity points": lambda: exact.marginal_velocity(X, T, PTS),
    "exact.marginal_log_prob": lambda: exact.marginal_log_prob(X, 0.3, GM),
    "exact.marginal_score": lambda: exact.marginal_score(X, 0.3, PTS),
    "exact.MarginalField": lambda: EXACT(X, 1.0),
    "models.MLP": lambda: NET(X, T),
    "models.MLP labels": lambda: CNET(X, 0.5, ZERO_LABELS),
    "solvers.solve": lambda: solvers.solve(lin, X, method="rk4", n_steps=3, return_trajectory=True),
    "solvers.solve grid": lambda: solvers.solve(lin, X, time_grid=GRID),
    "training.cfm_loss": lambda: training.cfm_loss(NET, X, X1, T),
    "training.sample_model": lambda: training.sample_model(NET, 5, n_steps=2),
    "couplings.minibatch_ot": lambda: couplings.minibatch_ot_coupling(X, X1),
    "couplings.flow_straightness": lambda: (
        couplings.flow_straightness(lin, X, n_steps=4).per_sample
    ),
    "guidance.cfg_velocity": lambda: guidance.cfg_velocity(X, X1, 2.0),
    "guidance.CFGVelocity": lambda: guidance.CFGVelocity(CNET, 1, 2.0)(X, 0.5),
    "guidance.ExactConditionalField": lambda: guidance.ExactConditionalField(GM)(X, T, LABELS),
    "schedules.log_snr": lambda: schedules.log_snr(T, "cosine"),
    "trajectories.straightness": lambda: trajectories.straightness(TRAJ3, TIMES3),
    "sde.vp_sde_coefficients": lambda: sde.vp_sde_coefficients(X, 0.4)[0],
    "sde.pf_ode_drift": lambda: sde.pf_ode_drift(X, 0.4, X1),
    "sde.sde_drift": lambda: sde.sde_drift(lin, X, 0.5, 1.0),
    "sde.euler_maruyama": lambda: sde.euler_maruyama(
        lin, X, diffusion=1.0, n_steps=3, return_trajectory=True
    ),
    "likelihood.jacobian": lambda: likelihood.jacobian(NET, X, 0.5),
    "likelihood.divergence_exact": lambda: likelihood.divergence_exact(NET, X, 0.5),
    "likelihood.divergence_hutchinson": lambda: likelihood.divergence_hutchinson(
        NET, X, 0.5, n_probes=2, seed=0
    ),
    "likelihood.log_likelihood": lambda: likelihood.log_likelihood(EXACT, X, n_steps=2),
    "likelihood.log_likelihood hutchinson": lambda: likelihood.log_likelihood(
        NET, X, n_steps=2, estimator="hutchinson"
    ),
    "likelihood.standard_normal_log_prob": lambda: likelihood.standard_normal_log_prob(X),
    "fields.rotation": lambda: fields.rotation()(X, T),
    "fields.flow": lambda: fields.spiral().flow(X, T),
    "fields.mover divergence": lambda: fields.MassMover().divergence(X, 0.3),
    "fields.rotation_to_sink": lambda: fields.RotationToSink().flow(X, 0.7),
    "likelihood.divergence_exact of a function": lambda: likelihood.divergence_exact(lin, X, 0.2),
    "trajectories.kinetic_energy": lambda: trajectories.kinetic_energy(TRAJ2, TIMES2),
    "diagnostics.marginal_velocity_mc": lambda: diagnostics.marginal_velocity_mc(X, 0.4, PTS),
    "diagnostics.loss_by_time": lambda: torch.as_tensor(
        diagnostics.loss_by_time(NET, PTS, n=64)["cfm"], dtype=D, device="cpu"
    ),
    "images.to_images": lambda: images.to_images(IMG),
    "images.tile_images": lambda: images.tile_images(IMG, 2, 2),
}


def _tensors(out: object) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _tensors(o)]
    if hasattr(out, "__dataclass_fields__"):
        return [t for name in out.__dataclass_fields__ for t in _tensors(getattr(out, name))]
    return []


@pytest.mark.parametrize("name", sorted(CALLS))
def test_float64_cpu_in_float64_cpu_out_with_meta_as_default_device(name):
    """Inputs: CPU float64. Default device: meta. A tensor made without device= would be on meta and fail."""
    with torch.device("meta"):
        out = CALLS[name]()
    tensors = [t for t in _tensors(out) if t.is_floating_point()]
    assert tensors, f"{name} returned no tensor"
    for t in tensors:
        assert t.device.type == "cpu", (
            f"{name}: output on {t.device}: a tensor was created without device="
        )
        assert t.dtype == D, f"{name}: float64 in, {t.dtype} out"


def test_training_keeps_the_model_dtype_and_is_device_clean():
    torch.manual_seed(0)
    net = models.MLP(hidden=8, depth=1).double()
    res = training.train_cfm(
        net,
        data.two_moons(64, seed=0).double(),
        steps=3,
        batch_size=8,
        progress=False,
        device="cpu",
    )
    assert next(net.parameters()).dtype == D and res.losses.shape == (3,)
    assert training.sample_model(net, 4, n_steps=2).dtype == D


def test_a_model_on_another_device_gets_a_clear_message():
    net = models.MLP(hidden=8, depth=1).to("meta")
    with pytest.raises(ValueError, match=r"x: is on cpu but the model is on meta"):
        net(torch.zeros(3, 2), 0.5)


def test_sampling_puts_the_noise_where_the_model_is():
    """A model on another device (meta stands in for a GPU): the noise follows it, nothing is forced to the CPU."""
    torch.manual_seed(0)
    net = models.MLP(hidden=8, depth=1).to("meta")
    sol = training.sample_model(net, 4, n_steps=2, return_trajectory=True)
    assert sol.x.device.type == "meta" and sol.trajectory.device.type == "meta"
    cnet = models.MLP(hidden=8, depth=1, num_classes=3).to("meta")
    sol = guidance.guided_sample(cnet, 1, 2.0, n=4, n_steps=2, return_trajectory=True)
    assert sol.x.device.type == "meta"


def test_default_device_is_chosen_in_one_place_and_can_be_forced(monkeypatch):
    monkeypatch.delenv("FMTUTOR_DEVICE", raising=False)
    want = (
        "cuda"
        if torch.cuda.is_available()
        else ("mps" if torch.backends.mps.is_available() else "cpu")
    )
    assert device.default_device().type == want
    assert fm.default_device is device.default_device
    monkeypatch.setenv("FMTUTOR_DEVICE", "cpu")
    assert device.default_device() == torch.device("cpu")
    monkeypatch.setenv("FMTUTOR_DEVICE", "cuda:3")
    if torch.cuda.device_count() < 4:
        with pytest.raises(ValueError, match="FMTUTOR_DEVICE: expected an available device"):
            device.default_device()


DEVICE_WORDS = (
    "cuda.is_available",
    "backends.mps",
    'device("cuda',
    "device('cuda",
    ".cuda(",
    '"mps"',
    "'mps'",
)


def _without_docstrings(tree: ast.Module) -> ast.Module:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return tree


@pytest.mark.parametrize(
    "path",
    sorted((ROOT / "fmtutor").rglob("*.py")),
    ids=lambda p: str(p.relative_to(ROOT / "fmtutor")),
)
def test_only_device_py_picks_a_device(path):
    if path == ROOT / "fmtutor" / "device.py":
        return
    if path == ROOT / "fmtutor" / "course" / "__init__.py":
        # setup(device=...) checks the name it writes to FMTUTOR_DEVICE (its two lines naming the choices
        # are skipped); default_device() does the picking
        code = "\n".join(
            line
            for line in path.read_text().splitlines()
            if 'device not in ("cpu", "cuda", "mps", "auto")' not in line
            and 'raise ValueError(f"device: expected' not in line
        )
    else:
        code = path.read_text()
    code = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith("#"))
    code = ast.unparse(_without_docstrings(ast.parse(code)))  # prose may name devices; code may not
    found = [w for w in DEVICE_WORDS if w in code]
    assert not found, (
        f"{path.relative_to(ROOT)} picks a device itself ({found}); use fmtutor.device.default_device()"
    )


def test_notebooks_do_not_pick_devices_either():
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        text = nb.read_text()
        found = [w for w in ("cuda.is_available", "backends.mps", ".cuda(") if w in text]
        assert not found, f"{nb.name} picks a device itself ({found}); use fm.default_device()"
