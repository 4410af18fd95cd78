"""fmtutor.device: FMTUTOR_DEVICE forces the device; otherwise the best available one is chosen."""

import pytest
import torch

from fmtutor.device import default_device


def _best() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def test_the_forced_device_wins_and_an_empty_setting_means_the_best(monkeypatch):
    monkeypatch.setenv("FMTUTOR_DEVICE", "cpu")
    assert default_device() == torch.device("cpu")  # even on a machine with a GPU
    monkeypatch.setenv("FMTUTOR_DEVICE", "")
    assert default_device() == _best()
    monkeypatch.delenv("FMTUTOR_DEVICE")
    assert default_device() == _best()


def test_a_name_torch_does_not_know_is_refused_with_the_variable_named(monkeypatch):
    monkeypatch.setenv("FMTUTOR_DEVICE", "gpu")
    with pytest.raises(ValueError, match="FMTUTOR_DEVICE: expected a torch device.*got 'gpu'"):
        default_device()
