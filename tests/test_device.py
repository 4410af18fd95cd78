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


def _machine(monkeypatch, cuda: bool, mps: bool) -> None:
    """Pretend CUDA and/or MPS are available (the CPU stands in: nothing runs on them here)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


def test_the_best_device_is_cuda_then_mps_then_cpu_unless_fmtutor_device_says(monkeypatch):
    monkeypatch.delenv("FMTUTOR_DEVICE", raising=False)
    for cuda, mps, want in ((True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")):
        _machine(monkeypatch, cuda, mps)
        assert default_device() == torch.device(want), (cuda, mps)
    _machine(monkeypatch, False, True)  # an Apple laptop
    monkeypatch.setenv("FMTUTOR_DEVICE", "cpu")  # what the chapters' setup() writes
    assert default_device() == torch.device("cpu")
    monkeypatch.setenv("FMTUTOR_DEVICE", "mps")
    assert default_device() == torch.device("mps")
    _machine(monkeypatch, False, False)
    with pytest.raises(ValueError, match="FMTUTOR_DEVICE: .*'mps' but MPS is not available"):
        default_device()


def test_float64_is_refused_on_mps_with_what_to_do_instead():
    from fmtutor.device import check_device_dtype

    with pytest.raises(ValueError, match=r"device: .*got 'mps' .*model\.float\(\).*device='cpu'"):
        check_device_dtype(torch.device("mps"), torch.float64)
    for dev, dtype in (("mps", torch.float32), ("cpu", torch.float64), ("cuda", torch.float64)):
        check_device_dtype(torch.device(dev), dtype)  # fine
