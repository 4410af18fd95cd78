"""fmtutor.models: the MLP's time and label inputs and its errors."""

import numpy as np
import pytest
import torch

from fmtutor import models


def test_mlp_accepts_t_as_float_vector_or_column():
    torch.manual_seed(0)
    m = models.MLP(n_frequencies=3)
    x = torch.randn(5, 2)
    a, b, c = m(x, 0.3), m(x, torch.full((5,), 0.3)), m(x, torch.full((5, 1), 0.3))
    assert torch.allclose(a, b) and torch.allclose(b, c)
    assert not torch.allclose(m(x, 0.3), m(x, 0.7))


def test_mlp_labels_and_null_label():
    torch.manual_seed(0)
    m = models.MLP(num_classes=3)
    x = torch.randn(4, 2)
    assert torch.allclose(m(x, 0.5), m(x, 0.5, torch.full((4,), 3)))  # None means the null label
    assert not torch.allclose(
        m(x, 0.5, torch.zeros(4, dtype=torch.long)), m(x, 0.5, torch.ones(4, dtype=torch.long))
    )
    with pytest.raises(ValueError, match="y: expected labels in 0..2"):
        m(x, 0.5, torch.full((4,), 7))


def test_mlp_errors():
    m = models.MLP()
    with pytest.raises(ValueError, match="x: expected shape \\(B, 2\\)"):
        m(torch.zeros(3, 3), 0.5)
    with pytest.raises(ValueError, match="t: expected times in \\[0, 1\\]"):
        m(torch.zeros(3, 2), 2.0)
    with pytest.raises(ValueError, match="t: expected 3 times"):
        m(torch.zeros(3, 2), torch.zeros(4))
    with pytest.raises(TypeError, match="x: expected a torch.Tensor"):
        m(np.zeros((3, 2)), 0.5)
    with pytest.raises(ValueError, match="activation: expected one of"):
        models.MLP(activation="swishy")
    with pytest.raises(ValueError, match="y: this model was built without num_classes"):
        m(torch.zeros(3, 2), 0.5, torch.zeros(3, dtype=torch.long))


def test_mlp_refuses_complex_points_instead_of_dropping_the_imaginary_part():
    m = models.MLP(hidden=8, depth=1)
    with pytest.raises(TypeError, match="x: expected real numbers, got dtype torch.complex64"):
        m(torch.randn(3, 2, dtype=torch.complex64), 0.5)


def test_mlp_empty_batch_gives_an_empty_velocity():
    net = models.MLP(dim=2, hidden=8)
    assert net(torch.zeros(0, 2), 0.5).shape == (0, 2)
    assert net(torch.zeros(0, 2), torch.zeros(0)).shape == (0, 2)


def test_mlp_device_and_dtype_checks_follow_the_first_layer_through_copies_and_casts():
    import copy

    net = models.MLP(dim=2, hidden=8)
    # the shortcut is not a registered module: the state dict holds the buffer and net.* only
    assert all(k == "freqs" or k.startswith("net.") for k in net.state_dict())
    twin = copy.deepcopy(net)
    assert twin._first is twin.net[0] and twin._first is not net._first
    wide = net.double()
    x = torch.randn(4, 2)  # float32 points go to the float64 model's dtype
    assert wide(x, 0.3).dtype == torch.float64
    t = torch.full((4, 1), 0.3, dtype=torch.float64)
    torch.testing.assert_close(wide(x, 0.3), wide._velocity(x.double(), t))
