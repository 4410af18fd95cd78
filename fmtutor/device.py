"""The one place that picks the compute device: CUDA, then Apple's MPS, then the CPU."""

__all__ = ["default_device"]

import os

import torch


def default_device() -> torch.device:
    """The best available device; set FMTUTOR_DEVICE (e.g. 'cpu') to override.

    Returns:
        torch.device('cuda') if a GPU is visible, else 'mps' on Apple silicon, else 'cpu'.
    """
    forced = os.environ.get("FMTUTOR_DEVICE")
    if forced:
        return torch.device(forced)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
