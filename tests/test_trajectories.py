"""fmtutor.trajectories: length, kinetic energy and straightness of stored paths, against closed forms."""

import math

import torch

from fmtutor import trajectories


def test_path_length_and_kinetic_energy():
    times = torch.linspace(0, 1, 11)
    x0, x1 = torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]])
    line = (1 - times)[:, None, None] * x0 + times[:, None, None] * x1
    assert torch.allclose(trajectories.path_length(line), torch.tensor([5.0]))
    assert torch.allclose(trajectories.kinetic_energy(line, times), torch.tensor([25.0]))
    # same path at uneven speed: same length, more energy
    slow = x0 + (times**2)[:, None, None] * (x1 - x0)
    assert torch.allclose(trajectories.path_length(slow), torch.tensor([5.0]))
    assert trajectories.kinetic_energy(slow, times) > 25.0 * 1.2


def test_straightness_and_length_ratio_truths():
    times = torch.linspace(0, 1, 11, dtype=torch.float64)
    a, b = torch.tensor([0.0, 0.0]), torch.tensor([3.0, 4.0])
    line = (1 - times)[:, None, None] * a + times[:, None, None] * b  # (11, 1, 2), constant speed
    assert float(trajectories.straightness(line, times)) < 1e-20
    assert math.isclose(float(trajectories.path_length_ratio(line)), 1.0, rel_tol=1e-12)
    # a half circle of radius 1 at constant angular speed pi: |v - chord|^2 = pi^2 + 4 - 4 pi sin(pi t)... integrates to pi^2 - 4
    tt = torch.linspace(0, 1, 4001, dtype=torch.float64)
    arc = torch.stack([torch.cos(math.pi * tt), torch.sin(math.pi * tt)], 1)[:, None, :]
    assert math.isclose(float(trajectories.path_length_ratio(arc)), math.pi / 2, rel_tol=1e-5)
    assert math.isclose(float(trajectories.straightness(arc, tt)), math.pi**2 - 4, rel_tol=1e-4)
