"""fmtutor.course.ch13: the token-grid target, the cached model, the law plot, the widget, exercises."""

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from fmtutor import discrete as D
from fmtutor import discrete_training as DT
from fmtutor.course import ch13

oh = torch.nn.functional.one_hot


def test_grid_target_is_the_binned_eight_gaussians():
    q = ch13.grid_target()
    v = ch13.GRID["vocab"]
    assert q.shape == (v, v) and abs(float(q.sum()) - 1) < 1e-12
    assert torch.allclose(q, q.T) and torch.allclose(q, q.flip(0))  # the picture's symmetries
    assert float(q[v // 2 - 1 : v // 2 + 1, v // 2 - 1 : v // 2 + 1].sum()) < 1e-3  # empty centre


def test_plot_law_draws_the_law_and_keeps_the_corner_out_of_the_scale():
    p = torch.rand(17, 17, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    p[-1, -1] = 50.0
    p = p / p.sum()
    ax = ch13.plot_law(p, ax=Figure().add_subplot(), title="law")
    img = ax.images[0]
    assert np.allclose(img.get_array(), p.T.numpy())
    rest = p.clone()
    rest[-1, -1] = 0
    assert img.norm.vmax == pytest.approx(float(rest.max()))
    assert ax.texts[0].get_text() == f"{float(p[-1, -1]):.2f}" and ax.get_title() == "law"
    with pytest.raises(ValueError, match="p"):
        ch13.plot_law(p[:3])


def test_marginal_widget_shows_the_exact_marginal_and_the_sampler():
    q = ch13.grid_target()
    exact = {s: D.ExactPosterior(q, D.MixturePath(16, s)) for s in ("mask", "uniform")}
    live = ch13.marginal_widget({s: e.velocity for s, e in exact.items()}, n=500, n_steps=20)
    assert live.last_error is None and live.stats["source"] == "mask" and live.stats["step"] == 10
    for source, t in (("uniform", 0.25), ("mask", 1.0), ("uniform", 0.0)):
        live.controls["source"].value = source
        live.controls["t"].value = t
        k = round(t * 20)
        path = exact[source].path
        traj = D.euler_jump_sample(
            exact[source].velocity, path.sample_source(500, 2, 0), 20, 1, True
        )
        p_t = exact[source].marginal(k / 20)
        want = DT.total_variation(DT.empirical_law(traj[k], path.n_states), p_t)
        assert live.stats["tv"] == pytest.approx(want) and live.stats["step"] == k
        drawn = live.fig.axes[0].images[0].get_array()
        assert np.allclose(drawn, p_t.T.numpy())
        assert f"t = {k / 20:.2f}" in live.text.value and live.last_error is None
    with pytest.raises(ValueError, match="velocities"):
        ch13.marginal_widget({"gaussian": exact["mask"].velocity})


def test_grid_model_is_cached(monkeypatch, tmp_path):
    monkeypatch.setenv("FMTUTOR_CACHE", str(tmp_path))
    monkeypatch.setitem(ch13.LOOP, "steps", 20)
    first = ch13.grid_model("mask", verbose=False)
    second = ch13.grid_model("mask", verbose=False)
    assert first.status == "trained" and second.status == "loaded"
    x = D.all_states(17, 2)[:30]
    assert torch.allclose(first.model.posterior(x, 0.4), second.model.posterior(x, 0.4))
    assert len(second.extra["losses"]) == 20
    u = ch13.model_velocity(second.model, D.MixturePath(16, "mask"))(x, 0.4)
    assert torch.allclose(u.sum(-1), torch.zeros(30, 2, dtype=torch.float64), atol=1e-12)


def test_exercise_conditional_rates():
    assert ch13.check_conditional_rates(ch13.reference_conditional_rates, verbose=False)

    def diff(x, x1, s):
        return (oh(x1, s) - oh(x, s)).double()

    cases = {
        "is missing: the rates must grow": lambda x, x1, t, s: diff(x, x1, s),
        "multiplied by (1 - t)": lambda x, x1, t, s: diff(x, x1, s) * (1 - t)[:, None, None],
        "you divided by t": lambda x, x1, t, s: diff(x, x1, s) / t.clamp_min(1e-3)[:, None, None],
        "-delta_x(y) term is missing": lambda x, x1, t, s: oh(x1, s) / (1 - t)[:, None, None],
        "sign is flipped": lambda x, x1, t, s: -diff(x, x1, s) / (1 - t)[:, None, None],
    }
    for key, wrong in cases.items():
        res = ch13.check_conditional_rates(wrong, verbose=False)
        assert not res and key in res.message, (key, res.message)


def test_exercise_jump_probs():
    assert ch13.check_jump_probs(ch13.reference_jump_probs, verbose=False)
    here = lambda x, u: oh(x, u.shape[-1]).to(u.dtype)  # noqa: E731
    cases = {
        "delta_x is missing": lambda x, u, h: h * u,
        "the step size h is missing": lambda x, u, h: here(x, u) + u,
        "so the step adds h u": lambda x, u, h: here(x, u) - h * u,
        "kept the staying probability": lambda x, u, h: here(x, u) + h * u * (1 - here(x, u)),
    }
    for key, wrong in cases.items():
        res = ch13.check_jump_probs(wrong, verbose=False)
        assert not res and key in res.message, (key, res.message)


def test_exercise_ce_loss():
    assert ch13.check_ce_loss(ch13.reference_ce_loss, verbose=False)
    ce = torch.nn.functional.cross_entropy
    assert ch13.check_ce_loss(
        lambda lg, x1: ce(lg.transpose(1, 2), x1, reduction="none").sum(1).mean(), verbose=False
    )

    def pick(lg, x1):
        return torch.log_softmax(lg, -1).gather(-1, x1[..., None])[..., 0]

    cases = {
        "averaged over the tokens": lambda lg, x1: ce(lg.reshape(-1, lg.shape[-1]), x1.flatten()),
        "summed over the batch": lambda lg, x1: -pick(lg, x1).sum(),
        "the log is missing": lambda lg, x1: -pick(lg, x1).exp().sum(1).mean(),
        "not normalised": lambda lg, x1: -lg.gather(-1, x1[..., None]).sum((1, 2)).mean(),
        "no gradient": lambda lg, x1: -pick(lg.detach(), x1).sum(1).mean(),
    }
    for key, wrong in cases.items():
        res = ch13.check_ce_loss(wrong, verbose=False)
        assert not res and key in res.message, (key, res.message)
