"""fmtutor.shortcut: average velocities of exact flows, self-consistency, the loss, the sampler."""

import pytest
import torch

import fmtutor as fm
from fmtutor import shortcut

M, S = torch.tensor([1.0, -2.0], dtype=torch.float64), 0.5  # data N(M, S^2 I)
F64 = torch.float64


def _x(n, seed):
    return torch.randn(n, 2, dtype=F64, generator=torch.Generator().manual_seed(seed))


def _col(v, x):
    return torch.as_tensor(v, dtype=x.dtype).reshape(-1, 1).expand(x.shape[0], 1)


def straight(s):
    return 1 - s + s * S


def marginal(s):
    return ((1 - s) ** 2 + (s * S) ** 2) ** 0.5


def exact_average(x, t, d, a=straight):
    """(psi_{t,t+d}(x) - x) / d for the flow x_t = a(t) x_0 + t M, in closed form (d = 0: u_t(x)).

    a = straight: straight lines from x_0 to M + S x_0; a = marginal: the exact marginal flow of
    the CondOT path from N(0, I) to N(M, S^2 I), whose marginals are N(t M, a(t)^2 I).
    """
    t, d = _col(t, x), _col(d, x)
    x0 = (x - t * M) / a(t)
    eps = 1e-6
    velocity = (a(t + eps) - a(t - eps)) / (2 * eps) * x0 + M if a is marginal else (S - 1) * x0 + M
    end = a(t + d) * x0 + (t + d) * M
    return torch.where(d > 0, (end - x) / d.clamp(min=1e-300), velocity)


def test_average_velocity_of_the_gaussian_flow_is_its_closed_form():
    exact = fm.exact.MarginalField(fm.data.GaussianMixture(M[None], S))
    x = _x(40, 0)
    for t, d in [(0.0, 1.0), (0.2, 0.5), (0.6, 0.25), (0.3, 0.0)]:
        got = shortcut.average_velocity(exact, x, t, d, n_steps=64)
        assert torch.allclose(got, exact_average(x, t, d, marginal), atol=1e-8), (t, d)


def test_average_velocity_is_self_consistent_and_tends_to_the_velocity():
    field = fm.exact.MarginalField(fm.data.eight_gaussians_mixture())  # a curved flow
    x, t, d = _x(30, 1), 0.2, 0.3

    def s(y, tt, dd):
        return shortcut.average_velocity(field, y, tt, dd, n_steps=200)

    s1 = s(x, t, d)
    two = (s1 + s(x + d * s1, t + d, d)) / 2
    assert torch.allclose(s(x, t, 2 * d), two, atol=1e-7)
    assert (s(x, t, 2 * d) - s(x, t, d)).abs().max() > 0.1  # not trivially equal
    u = field(x, torch.full((30,), t, dtype=F64))
    errs = [float((s(x, t, h) - u).abs().max()) for h in (1e-2, 1e-3)]
    assert errs[1] < 0.2 * errs[0] and errs[1] < 1e-2  # O(d) to the instantaneous velocity


def test_loss_is_zero_for_the_exact_shortcut_and_positive_when_perturbed():
    x0 = _x(256, 2)
    x1 = M + S * x0  # the flow's own pairs: straight lines, x_1 - x_0 is the exact velocity
    g = torch.Generator().manual_seed(3)
    d = torch.where(torch.rand(256, generator=g) < 0.5, 0.0, 0.5 ** torch.randint(0, 6, (256,)))
    d = d.to(F64)
    t = torch.rand(256, generator=g, dtype=F64) * (1 - d)
    assert float(shortcut.shortcut_loss(exact_average, x0, x1, t, d)) < 1e-24
    bent = lambda x, tt, dd: exact_average(x, tt, dd) + 0.1 * _col(dd, x)  # noqa: E731
    assert float(shortcut.shortcut_loss(bent, x0, x1, t, d)) > 1e-4
    targets = shortcut.shortcut_targets(exact_average, x0, t, torch.full_like(t, 0.5) * (1 - t))
    assert torch.allclose(targets, exact_average(x0, t, 0.5 * (1 - t)), atol=1e-12)


def test_loss_by_hand():
    torch.manual_seed(0)
    net = shortcut.ShortcutMLP(hidden=16, depth=2).double()
    x0, x1 = _x(6, 4), _x(6, 5) + 2
    t = torch.tensor([0.1, 0.5, 0.9, 0.2, 0.3, 0.0], dtype=F64)
    d = torch.tensor([0.0, 0.0, 0.0, 0.5, 1 / 64, 1.0], dtype=F64)  # halves of 1/64: d = 0
    xt = (1 - t[:, None]) * x0 + t[:, None] * x1
    want = []
    for i in range(6):
        x, ti, di = xt[i : i + 1], t[i].item(), d[i].item()
        if di == 0:
            target = x1[i : i + 1] - x0[i : i + 1]
        else:
            h = di / 2
            q = 0.0 if h < 1 / 64 else h
            a = net(x, ti, q)
            target = (a + net(x + h * a, ti + h, q)) / 2
        want.append(((net(x, ti, di) - target.detach()) ** 2).sum())
    got = shortcut.shortcut_loss(net, x0, x1, t, d)
    assert torch.allclose(got, torch.stack(want).mean(), rtol=1e-12, atol=0)
    got.backward()  # the targets carry no gradient, the prediction does
    assert net.net[0].weight.grad is not None
    with pytest.raises(ValueError, match="t = 1"):
        shortcut.shortcut_loss(net, x0, x1, torch.full_like(t, 0.6), d)


def test_from_mlp_equals_the_velocity_at_every_step():
    torch.manual_seed(1)
    mlp = fm.models.MLP(hidden=16, depth=2).double()
    net = shortcut.ShortcutMLP.from_mlp(mlp)
    x = _x(10, 6)
    for d in (0.0, 0.5, 1.0):
        assert torch.allclose(net(x, 0.3, d), mlp(x, 0.3))
    with pytest.raises(TypeError, match="mlp"):
        shortcut.ShortcutMLP.from_mlp(fm.models.MLP(n_frequencies=2))


def test_sampler_is_euler_on_the_step_field_and_exact_for_the_exact_shortcut():
    x0 = _x(50, 7)
    curved = lambda x, t, d: exact_average(x, t, d, marginal)  # noqa: E731
    for k in (1, 2, 4):
        got = shortcut.shortcut_sample(curved, x0, k)
        assert torch.allclose(got, M + S * x0, atol=1e-12)  # one step per interval is exact
        euler = fm.solvers.solve(shortcut.step_field(curved, 1 / k), x0, "euler", n_steps=k)
        assert torch.allclose(got, euler.x, atol=1e-12)


def test_train_shortcut_learns_a_one_step_map():
    torch.manual_seed(2)
    net = shortcut.ShortcutMLP(hidden=32, depth=2).double()
    x1 = M + S * _x(4096, 8)
    res = shortcut.train_shortcut(net, _x(4096, 9), x1, steps=600, lr=3e-3, sc_fraction=0.5)
    assert res.losses[-50:].mean() < res.losses[:50].mean()
    z = shortcut.shortcut_sample(net, _x(2000, 10), 1)
    assert torch.allclose(z.mean(0), M, atol=0.15)
    assert torch.allclose(z.std(0), torch.full((2,), S, dtype=F64), atol=0.15)


def test_a_shortcut_model_file_round_trips(tmp_path):
    torch.manual_seed(3)
    net = shortcut.ShortcutMLP(hidden=8, depth=1)
    fm.io.save_model(net, tmp_path / "s.pt", note="x")
    back, extra = fm.io.load_model(tmp_path / "s.pt")
    x = torch.randn(5, 2)
    assert type(back) is shortcut.ShortcutMLP and extra["note"] == "x"
    assert torch.equal(back(x, 0.2, 0.5), net(x, 0.2, 0.5))
