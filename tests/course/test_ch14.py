"""fmtutor.course.ch14: the exercises (and their hints), the NFE widget and the pool-OT model."""

import pytest
import torch

import fmtutor as fm
from fmtutor.course import ch14


def test_exercise_pairs():
    assert ch14.check_pairs(ch14.reference_pairs, verbose=False)

    def by_hand(model, x0, n):
        x = x0
        for k in range(n):
            x = x + model(x, torch.tensor(k / n, dtype=x.dtype)) / n
        return x

    assert ch14.check_pairs(by_hand, verbose=False)
    lin = lambda n: torch.linspace(0, 1, n + 1, dtype=torch.float64)  # noqa: E731
    cases = {
        "from t = 1": lambda m, x, n: ch14._euler(m, x, lin(n).flip(0)),
        "one Euler step": lambda m, x, n: x + m(x, torch.tensor(0.0, dtype=x.dtype)),
        "step number": lambda m, x, n: ch14._euler(lambda y, t: m(y, t * n), x, lin(n)),
        "displacement": lambda m, x, n: ch14.reference_pairs(m, x, n) - x,
    }
    for key, wrong in cases.items():
        res = ch14.check_pairs(wrong, verbose=False)
        assert not res and key in res.message, (key, res.message)


def test_exercise_distill_loss():
    assert ch14.check_distill_loss(ch14.reference_distill_loss, verbose=False)
    ok = lambda m, a, b: fm.fewstep.distill_loss(m, a, b, n_steps=1)  # noqa: E731
    assert ch14.check_distill_loss(ok, verbose=False)
    z = lambda a: torch.zeros(a.shape[0], dtype=a.dtype)  # noqa: E731
    cases = {
        "not t = 1": lambda m, a, b: ((a + m(a, z(a) + 1) - b) ** 2).sum(1).mean(),
        "velocity with x1": lambda m, a, b: ((m(a, z(a)) - b) ** 2).sum(1).mean(),
        "divided by d": lambda m, a, b: ((a + m(a, z(a)) - b) ** 2).mean(),
        "square the distance": lambda m, a, b: (a + m(a, z(a)) - b).norm(dim=1).mean(),
    }
    for key, wrong in cases.items():
        res = ch14.check_distill_loss(wrong, verbose=False)
        assert not res and key in res.message, (key, res.message)


def test_nfe_widget_recomputes_the_table():
    torch.manual_seed(0)
    nets = {"a": fm.models.MLP(hidden=16, depth=2).eval(), "b": lambda x, t: -x}
    x0 = torch.randn(80, 2, generator=torch.Generator().manual_seed(1))
    data = fm.data.two_moons(80, seed=2)
    live = ch14.nfe_widget(nets, x0, data, floor=0.5)
    assert live.stats["nfe"] == 1 and live.last_error is None
    live.controls["nfe"].value = 4
    want = fm.fewstep.nfe_w2(nets, x0, data, (4,))
    assert live.stats["nfe"] == 4 and live.calls == 2
    assert live.stats["ratios"]["a"] == pytest.approx(want["a"][0] / 0.5, rel=1e-6)
    assert live.stats["ratios"]["b"] == pytest.approx(want["b"][0] / 0.5, rel=1e-6)
    with pytest.raises(ValueError, match="floor"):
        ch14.nfe_widget(nets, x0, data, floor=0.0)
    with pytest.raises(TypeError, match="models"):
        ch14.nfe_widget({}, x0, data, floor=1.0)


def test_pool_ot_model_is_train_2d_with_ot_pairs_and_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("FMTUTOR_CACHE", str(tmp_path))
    monkeypatch.setitem(ch14.OT_SETTINGS, "steps", 20)  # the chapter's recipe, cut short
    got = ch14.pool_ot_model(verbose=False)
    assert got.status == "trained" and got.extra["seconds"] > 0
    assert got.extra["train_config"]["overrides"]["coupling"] == "ot"
    want, _ = fm.recipes.train_2d(
        fm.data.two_moons, progress=False, coupling="ot", **ch14.OT_SETTINGS
    )
    for a, b in zip(got.model.state_dict().values(), want.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert ch14.pool_ot_model(verbose=False).status == "loaded"


def test_exercise_shortcut_target():
    assert ch14.check_shortcut_target(ch14.reference_shortcut_target, verbose=False)

    def by_hand(m, x, t, d):
        h = d[:, None] / 2
        a = m(x, t, d / 2)
        return (a + m(x + h * a, t + d / 2, d / 2)) / 2

    assert ch14.check_shortcut_target(by_hand, verbose=False)

    def wrong(first, second, avg=0.5, step=0.5):
        def f(m, x, t, d):
            a = m(x, t, first(d))
            return avg * (a + m(x + step * d[:, None] * a, second(t, d), first(d)))

        return f

    half, ahead = (lambda d: d / 2), (lambda t, d: t + d / 2)
    cases = {
        "not at t.": wrong(half, lambda t, d: t),
        "by the whole d": wrong(half, lambda t, d: t + d),
        "ask the model for half steps": wrong(lambda d: d, ahead),
        "do not add them": wrong(half, ahead, avg=1.0),
        "the step is d/2": wrong(half, ahead, step=1.0),
    }
    for key, bad in cases.items():
        res = ch14.check_shortcut_target(bad, verbose=False)
        assert not res and key in res.message, (key, res.message)
