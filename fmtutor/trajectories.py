"""Geometry of stored trajectories (T + 1, B, d): path length, kinetic energy, straightness."""

from __future__ import annotations

__all__ = ["path_length", "kinetic_energy", "straightness", "path_length_ratio"]

from typing import Any

import torch
from torch import Tensor

from ._validate import as_tensor


def _polyline_length(traj: Tensor) -> Tensor:
    """sum_k ||x_{k+1} - x_k|| of each particle, shape (B,), for traj of shape (T + 1, B, d)."""
    return (traj[1:] - traj[:-1]).norm(dim=-1).sum(0)


def path_length(traj: Tensor) -> Tensor:
    """Length of each particle's polyline path, shape (B,), from a trajectory (T + 1, B, d)."""
    traj = as_tensor(traj, "traj")
    if traj.ndim != 3 or traj.shape[0] < 2:
        raise ValueError(f"traj: expected shape (T + 1, B, d) with T >= 1, got {tuple(traj.shape)}")
    return _polyline_length(traj)


def kinetic_energy(traj: Tensor, times: Tensor) -> Tensor:
    """The kinetic energy int_0^1 |dx/dt|^2 dt of each path, shape (B,), by finite differences.

    For any path from x_0 to x_1 it is at least |x_1 - x_0|^2, with equality exactly for the
    straight line travelled at constant speed.

    Args:
        traj: positions at the grid times, shape (T + 1, B, d).
        times: the grid, shape (T + 1,).

    Returns:
        sum_k ||x_{k+1} - x_k||^2 / (t_{k+1} - t_k) of each particle, shape (B,).
    """
    traj, times = as_tensor(traj, "traj"), as_tensor(times, "times")
    if traj.ndim != 3 or times.shape != (traj.shape[0],):
        raise ValueError(
            "traj, times: expected shapes (T + 1, B, d) and (T + 1,), "
            f"got {tuple(traj.shape)} and {tuple(times.shape)}"
        )
    dt = (times[1:] - times[:-1]).to(traj)[:, None]
    return (((traj[1:] - traj[:-1]) ** 2).sum(-1) / dt).sum(0)


def _check_traj(traj: Any, times: Any) -> tuple[Tensor, Tensor]:
    """traj (T + 1, B, d) and a strictly increasing grid times (T + 1,), both as float64."""
    traj = as_tensor(traj, "traj", dtype=torch.float64)
    times = as_tensor(times, "times", dtype=torch.float64)
    if traj.ndim != 3:
        raise ValueError(f"traj: expected shape (T + 1, B, d), got {tuple(traj.shape)}")
    if times.shape != (traj.shape[0],):
        raise ValueError(
            f"times: expected shape ({traj.shape[0]},) to match traj, got {tuple(times.shape)}"
        )
    if times.shape[0] >= 2 and not bool((times[1:] > times[:-1]).all()):
        raise ValueError(f"times: expected a strictly increasing grid, got {times.tolist()}"[:300])
    return traj, times


def straightness(traj: Any, times: Any) -> Tensor:
    """Deviation from a straight, constant-speed path, per particle.

    S = int_0^1 || dx_t/dt - (x_1 - x_0) ||^2 dt, approximated on the grid by finite differences:
    0 exactly when every particle moves on a line at constant speed (then one Euler step is exact).

    Args:
        traj: states on the grid, shape (T + 1, B, d).
        times: the grid, shape (T + 1,), from 0 to 1.

    Returns:
        S for each particle, shape (B,).
    """
    traj, times = _check_traj(traj, times)
    h = (times[1:] - times[:-1])[:, None, None]
    vel = (traj[1:] - traj[:-1]) / h
    chord = (traj[-1] - traj[0]) / (times[-1] - times[0])
    return (((vel - chord) ** 2).sum(-1) * h[:, :, 0]).sum(0)


def path_length_ratio(traj: Any) -> Tensor:
    """Length of each polyline over its end-to-end distance (1 for a straight path), shape (B,)."""
    traj = as_tensor(traj, "traj", dtype=torch.float64)
    if traj.ndim != 3:
        raise ValueError(f"traj: expected shape (T + 1, B, d), got {tuple(traj.shape)}")
    length = _polyline_length(traj)
    return length / (traj[-1] - traj[0]).norm(dim=-1).clamp_min(1e-12)
