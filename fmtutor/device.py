"""The one place that picks the compute device: CUDA, then Apple's MPS, then the CPU."""

__all__ = ["default_device", "check_device_dtype"]

import os

import torch


def default_device() -> torch.device:
    """The best available device; set FMTUTOR_DEVICE (e.g. 'cpu') to override.

    Returns:
        torch.device('cuda') if a GPU is visible, else 'mps' on Apple silicon, else 'cpu'.
    """
    forced = os.environ.get("FMTUTOR_DEVICE")
    if forced:
        try:
            dev = torch.device(forced)
        except (RuntimeError, ValueError) as e:
            raise ValueError(
                "FMTUTOR_DEVICE: expected a torch device such as 'cpu', 'cuda' or 'mps', "
                f"got {forced!r}"
            ) from e
        if dev.type == "cuda" and (
            not torch.cuda.is_available() or (dev.index or 0) >= torch.cuda.device_count()
        ):
            raise ValueError(
                f"FMTUTOR_DEVICE: expected an available device, got {forced!r} but this "
                f"machine has {torch.cuda.device_count()} CUDA device(s); unset it or use 'cpu'"
            )
        if dev.type == "mps" and not (
            getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
        ):
            raise ValueError(
                f"FMTUTOR_DEVICE: expected an available device, got {forced!r} "
                "but MPS is not available here"
            )
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def check_device_dtype(device: torch.device, dtype: torch.dtype, name: str = "device") -> None:
    """Refuse float64 on Apple's MPS (it has no float64), naming ``name`` and what to do instead.

    Args:
        device: where the tensors are to go.
        dtype: their dtype.
        name: the argument's name for the error message.
    """
    if device.type == "mps" and dtype == torch.float64:
        raise ValueError(
            f"{name}: expected a device that can hold float64, got 'mps' (Apple GPUs have no "
            "float64); use float32 (model.float()), or device='cpu' (FMTUTOR_DEVICE=cpu)"
        )
