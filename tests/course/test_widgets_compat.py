"""Every widget of the course, on the installed ipywidgets (7 as on Colab, or 8): its state and its reactions.

What the kernel sends the front end is ``widget.get_state()`` with binary buffers split off; this builds each
chapter's widgets with small inputs, checks that every widget they hold has a state that is strict JSON
naming a model the installed ipywidgets defines, moves every control and checks the redraw ran, and checks
how the frame player switches frames on each major version. tools/matrix.sh runs this file in the
Colab-like and oldest-allowed environments too.
"""

import json
import math

import ipywidgets as W
import pytest
import torch
from ipywidgets.widgets import widget as widget_module
from ipywidgets.widgets.widget_link import Link

import fmtutor as fm
from fmtutor.course import ch00, ch01, ch02, ch03, ch04, ch05, ch06, ch07, ch08, ch09, ch10
from fmtutor.course.widgets import FramePlayer, LivePlot, render_frames

pytestmark = pytest.mark.usefixtures("one_torch_thread")
MAJOR = int(W.__version__.split(".")[0])
PNG = b"\x89PNG"


def _model_names() -> set[str]:
    """The model names of every widget class the installed ipywidgets defines."""
    names, todo = set(), [W.Widget]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        trait = cls.class_traits().get("_model_name")
        if trait is not None and isinstance(trait.default_value, str):
            names.add(trait.default_value)
    return names


MODELS = _model_names()


def _tree(root: W.Widget) -> list[W.Widget]:
    """root and every widget it refers to through its synced traits (children, layout, style, ...)."""
    seen: dict[int, W.Widget] = {}
    todo = [root]
    while todo:
        w = todo.pop()
        if id(w) in seen:
            continue
        seen[id(w)] = w
        for name in w.keys:
            value = getattr(w, name)
            items = value if isinstance(value, (list, tuple)) else [value]
            todo.extend(v for v in items if isinstance(v, W.Widget))
    return list(seen.values())


def assert_valid_state(root: W.Widget) -> int:
    """Each widget under root: its state, buffers split off, is strict JSON and names a known model."""
    widgets = _tree(root)
    for w in widgets:
        state, _paths, buffers = widget_module._remove_buffers(w.get_state())
        json.dumps(
            state, allow_nan=False
        )  # what the comm sends; raises on bytes, NaN, numpy scalars
        assert state["_model_name"] in MODELS, (type(w).__name__, state["_model_name"])
        assert all(isinstance(b, (bytes, bytearray, memoryview)) for b in buffers)
    return len(widgets)


def _other_value(control: W.ValueWidget):
    """A valid value of the control other than its current one."""
    if hasattr(control, "options") and len(control.options):
        labels = list(control.options)
        values = [o[1] if isinstance(o, tuple) else o for o in labels]
        return next(v for v in values if v != control.value)
    if isinstance(control.value, bool):
        return not control.value
    lo, hi = control.min, control.max
    target = lo if control.value != lo else hi
    return type(control.value)(target)


def exercise(live: LivePlot) -> None:
    """Move every control once: no redraw error, a PNG each time, and the state stays valid."""
    assert live.last_error is None and bytes(live.image.value).startswith(PNG)
    assert_valid_state(live.widget)
    for name, control in live.controls.items():
        calls = live.calls
        control.value = _other_value(control)
        assert live.calls == calls + 1, name
        assert live.last_error is None, (name, live.last_error)
        assert bytes(live.image.value).startswith(PNG), name
    assert_valid_state(live.widget)


def _gm():
    return fm.data.eight_gaussians_mixture()


BUILDERS = {
    "ch00.mle_explorer": lambda: ch00.mle_explorer(),
    "ch01.field_explorer": lambda: ch01.field_explorer(),
    "ch02.flow_explorer": lambda: ch02.flow_explorer(),
    "ch02.trajectory_explorer": lambda: ch02.trajectory_explorer(),
    "ch03.path_explorer": lambda: ch03.path_explorer(n=500),
    "ch03.particle_explorer": lambda: ch03.particle_explorer(n=200),
    "ch04.conditional_vs_marginal": lambda: ch04.conditional_vs_marginal(
        fm.data.two_moons(100, seed=0), fm.data.two_moons(100, seed=0)[3], t=0.2, n_particles=50
    ),
    "ch05.field_comparison": lambda: ch05.field_comparison(
        lambda x, t: torch.zeros_like(x), fm.data.two_moons(200, seed=0), t=0.5, n_particles=100
    ),
    "ch06.steps_explorer": lambda: ch06.steps_explorer(
        lambda x, t: -x, torch.randn(60, 2), fm.data.two_moons(60, seed=1), n_steps=2, max_steps=8
    ),
    "ch06.nfe_explorer": lambda: ch06.nfe_explorer(
        lambda x, t: -x, torch.randn(40, 2), nfe=8, xlim=(-3, 3), ylim=(-3, 3)
    ),
    "ch07.pairing_widget": lambda: ch07.pairing_widget(fm.data.eight_gaussians, value=16, seed=0),
    "ch07.batch_paths_widget": lambda: ch07.batch_paths_widget(
        {b: (lambda x, t, b=b: -x / b) for b in (4, 16, 64)},
        torch.randn(6, 2),
        torch.randn(40, 2),
        value=16,
        n_steps=8,
    ),
    "ch08.likelihood_widget": lambda: ch08.likelihood_widget(
        _gm(), _gm().sample(20, seed=5).double(), n_steps=2
    ),
    "ch09.schedule_widget": lambda: ch09.schedule_widget(
        torch.randn(50, 2), _gm().sample(50, seed=0), t=0.0
    ),
    "ch09.sde_widget": lambda: ch09.sde_widget(
        fm.exact.MarginalField(_gm()), _gm().sample, n=100, n_steps=10
    ),
    "ch10.guidance_widget": lambda: ch10.guidance_widget(
        fm.guidance.ExactConditionalField(_gm()), _gm(), w=1.0, y=0, n=100, n_steps=6
    ),
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_chapter_widget_state_and_reactions(name):
    torch.manual_seed(0)
    exercise(BUILDERS[name]())


def test_later_chapter_widgets(digit_classifier):
    """Chapters 11, 12, 13 and 15 (whichever exist): their LivePlots, built from untrained or toy inputs."""
    import importlib

    torch.manual_seed(0)
    built = 0
    try:
        ch11 = importlib.import_module("fmtutor.course.ch11")
    except ImportError:
        ch11 = None
    if ch11 is not None:
        model = fm.digits.digit_model(0, hidden=32, depth=2)
        exercise(ch11.digit_explorer(model, digit_classifier, digit=3, n_steps=2, n=4))
        built += 1
    try:
        ch12 = importlib.import_module("fmtutor.course.ch12")
        z = torch.randn(5, 30, 3)
        exercise(ch12.sphere_flow_widget(z / z.norm(dim=-1, keepdim=True), n_show=30))
        built += 1
    except ImportError:
        pass
    try:
        ch13 = importlib.import_module("fmtutor.course.ch13")
        from fmtutor import discrete as D

        q = ch13.grid_target()
        exact = {s: D.ExactPosterior(q, D.MixturePath(16, s)) for s in ("mask", "uniform")}
        exercise(ch13.marginal_widget({s: e.velocity for s, e in exact.items()}, n=200, n_steps=10))
        built += 1
    except ImportError:
        pass
    try:
        ch15 = importlib.import_module("fmtutor.course.ch15")
        net = fm.models.MLP(dim=2, hidden=16, depth=2).eval()
        data = fm.data.two_moons(100, seed=2)
        exercise(ch15.clocks_widget(net, torch.randn(100, 2), data))
        built += 1
    except ImportError:
        pass
    assert built >= 1


def test_loss_curve_state():
    curve = ch05.LossCurve(200, every=100)
    for step in range(200):
        curve(step, 2.0 / (1 + step))
    assert bytes(curve.image.value).startswith(PNG) and curve.text.value
    assert assert_valid_state(curve.widget) == len(_tree(curve.widget)) >= 3


def _links() -> list:
    """Every live jslink (ipywidgets 7 keeps Widget.widgets, 8 a module-level registry)."""
    registry = getattr(widget_module, "_instances", None)
    if registry is None:
        registry = W.Widget.widgets
    return [w for w in list(registry.values()) if isinstance(w, Link)]


def test_frame_player_switches_frames_on_this_ipywidgets():
    frames = render_frames(lambda fig, i: fig.add_subplot().plot([0, i]), 4, figsize=(1, 1))
    player = FramePlayer(frames, interval=50)
    assert_valid_state(player.widget)
    links = [(lk.source, lk.target) for lk in _links()]
    assert ((player.play, "value"), (player.slider, "value")) in links  # plays in the browser
    if MAJOR >= 8:  # the browser switches the Stack's page; the kernel plays no part
        assert isinstance(player.stack, W.Stack) and player.stack.selected_index == 0
        assert ((player.slider, "value"), (player.stack, "selected_index")) in links
    else:  # ipywidgets 7: the slider's observer puts frame k in the Box
        assert not hasattr(W, "Stack")
        assert list(player.stack.children) == [player.images[0]]
        for k in (2, 3, 0):
            player.slider.value = k
            assert list(player.stack.children) == [player.images[k]], k
            assert bytes(player.stack.children[0].value) == frames[k]
    assert math.isclose(player.play.interval, 50)
    assert_valid_state(player.widget)
