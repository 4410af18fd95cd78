"""fmtutor.conventions: the conventions table, time and velocity converters, foreign Euler loops."""

import pytest
import torch

import fmtutor as fm
from fmtutor import conventions as cv

M, S = torch.tensor([1.5, -0.5], dtype=torch.float64), 0.5  # data N(M, S^2 I), noise N(0, I)


def diffusers_gaussian(x, timestep):
    """By hand, in diffusers' terms: x = sigma eps + (1 - sigma) d, f = E[eps - d | x].

    w = sigma^2 + (1 - sigma)^2 S^2, centred c = x - (1 - sigma) M:
    E[eps | x] = sigma c / w, E[d | x] = M + (1 - sigma) S^2 c / w.
    """
    sigma = timestep / 1000.0
    w = sigma**2 + (1 - sigma) ** 2 * S**2
    c = x - (1 - sigma) * M
    return sigma * c / w - (M + (1 - sigma) * S**2 * c / w)


def _x(n=64, seed=0):
    return torch.randn(n, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def test_table():
    c = cv.CONVENTIONS
    assert (c["course"].noise_at, c["course"].sign, c["course"].scale) == (0.0, 1, 1.0)
    assert (c["flow_matching"].noise_at, c["flow_matching"].sign) == (0.0, 1)
    assert (c["diffusers"].noise_at, c["diffusers"].sign, c["diffusers"].scale) == (1.0, -1, 1e3)
    assert (c["rectified_flow"].noise_at, c["rectified_flow"].sign) == (0.0, 1)
    assert c["rectified_flow"].scale == 999.0
    assert (c["diffusion"].noise_at, c["diffusion"].sign) == (1.0, -1)
    assert all(cv.get_convention(k) is v for k, v in c.items())


def test_times_are_inverse_and_put_noise_where_stated():
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    for name, c in cv.CONVENTIONS.items():
        s = cv.from_course_time(t, name)
        assert torch.allclose(cv.to_course_time(s, name), t, atol=1e-12), name
        assert float(s[0]) == pytest.approx(c.noise_at * c.scale), name  # the noise end
    assert float(cv.from_course_time(0.25, "diffusers")) == pytest.approx(750.0)


def test_hand_written_diffusers_field_is_the_course_exact_field():
    # independent: the course's exact Gaussian marginal velocity vs the formula above
    exact = fm.exact.MarginalField(fm.data.GaussianMixture(M[None], S))
    u = cv.to_course(diffusers_gaussian, "diffusers")
    f = cv.from_course(exact, "diffusers")
    x = _x()
    for t in (0.0, 0.2, 0.5, 0.9):
        assert torch.allclose(u(x, t), exact(x, t), atol=1e-10), t
        tau = torch.tensor(1000.0 * (1 - t), dtype=torch.float64)
        assert torch.allclose(f(x, tau), diffusers_gaussian(x, tau), atol=1e-10), t


def test_round_trip_is_the_identity():
    net = fm.models.MLP(dim=2, hidden=16, depth=2).double()
    x = _x(8)
    for name in cv.CONVENTIONS:
        back = cv.to_course(cv.from_course(net, name), name)
        for t in (0.0, 0.3, 1.0):
            assert torch.allclose(back(x, t), net(x, t), atol=1e-12), name


def test_sampling_both_ways_gives_the_same_points():
    torch.manual_seed(0)
    net = fm.models.MLP(dim=2, hidden=32, depth=2).eval()  # float32, nonlinear in x and t
    x0 = _x(200, 1).float()
    for name, grid in [
        ("diffusers", cv.shift_sigmas(7, shift=3.0)),
        ("diffusion", torch.linspace(1, 0, 6, dtype=torch.float64)),
        ("rectified_flow", torch.linspace(0, 1, 5, dtype=torch.float64) ** 2),
        ("flow_matching", torch.linspace(0, 1, 4, dtype=torch.float64)),
    ]:
        with torch.no_grad():
            course = fm.solvers.solve(
                net, x0, method="euler", time_grid=cv.course_grid(grid, name)
            ).x
            foreign = cv.foreign_euler(cv.from_course(net, name), x0, grid, name)
        assert (course - foreign).abs().max() < 1e-6, name
        assert (course - x0).abs().max() > 0.1  # it moved


def test_diffusers_loop_on_the_exact_field_reaches_the_closed_form_map():
    # the OT flow between N(0, I) and N(M, S^2 I) maps x0 to M + S x0; Euler is first order
    x0 = _x(100, 2)
    err = [
        float(
            (
                cv.foreign_euler(diffusers_gaussian, x0, cv.shift_sigmas(n), "diffusers")
                - (M + S * x0)
            )
            .abs()
            .max()
        )
        for n in (100, 200)
    ]
    assert err[1] < 0.02 and 1.7 < err[0] / err[1] < 2.3, err
    # the sign matters: the course's velocity fed to the diffusers loop unconverted goes astray
    exact = fm.exact.MarginalField(fm.data.GaussianMixture(M[None], S))
    wrong = cv.foreign_euler(
        lambda x, s: exact(x, 1 - s / 1000), x0, cv.shift_sigmas(40), "diffusers"
    )
    assert (wrong - (M + S * x0)).abs().max() > 1.0


def test_shift_sigmas():
    assert torch.allclose(cv.shift_sigmas(4), torch.tensor([1, 0.75, 0.5, 0.25, 0.0]).double())
    g = cv.shift_sigmas(4, shift=3.0)
    assert float(g[2]) == pytest.approx(3 * 0.5 / (1 + 2 * 0.5))  # 0.75
    assert float(g[0]) == 1.0 and float(g[-1]) == 0.0 and bool((g[1:] < g[:-1]).all())
    assert torch.allclose(cv.course_grid(g, "diffusers"), 1 - g)


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="convention"):
        cv.get_convention("sd3")
    with pytest.raises(ValueError, match="noise_at"):
        cv.Convention("x", "x", 0.5, 1, 1.0, "")
    with pytest.raises(ValueError, match="sign"):
        cv.Convention("x", "x", 0.0, 2, 1.0, "")
    with pytest.raises(ValueError, match="scale"):
        cv.Convention("x", "x", 0.0, 1, 0.0, "")
    with pytest.raises(TypeError, match="model"):
        cv.to_course(3, "diffusers")
    with pytest.raises(ValueError, match="own_times"):
        cv.foreign_euler(diffusers_gaussian, _x(2), torch.tensor([0.0, 1.0]), "diffusers")
    with pytest.raises(ValueError, match="shift"):
        cv.shift_sigmas(4, shift=-1.0)
