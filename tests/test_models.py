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
