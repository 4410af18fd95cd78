"""Small velocity networks: an MLP ``model(x, t)`` with an optional class label for guidance."""

__all__ = ["MLP", "time_column", "ACTIVATIONS"]

import math
from typing import Any

import torch
from torch import Tensor, nn

from ._validate import check_finite_and_times, check_positive_int, check_time

#: The hidden layers' activation functions, by name.
ACTIVATIONS = {"silu": nn.SiLU, "elu": nn.ELU, "relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}


def time_column(t: Any, x: Tensor, values: bool = True) -> Tensor:
    """t (a float, (B,) or (B, 1), each in [0, 1]) as a (B, 1) column in x's dtype and device.

    ``values=False`` checks the shape only (the caller checks the values, as ``MLP.forward`` does).
    """
    if (  # the common case (a training loop's t): one time per point, in x's dtype and device
        isinstance(t, Tensor)
        and t.ndim == 1
        and t.shape[0] == x.shape[0]
        and t.dtype == x.dtype
        and t.device == x.device
        and not values
    ):
        return t[:, None]
    return check_time(t, batch=x.shape[0], like=x, values=values).expand(x.shape[0], 1)


class MLP(nn.Module):
    """A multilayer perceptron velocity field u_theta(x, t) (and u_theta(x, t, y) with labels).

    Input features are [x, t] plus, with n_frequencies > 0, [sin(2^k pi t), cos(2^k pi t)] for
    k < n_frequencies, plus a learned label embedding when num_classes is set. Label
    ``num_classes`` (or y=None) is the "no label" class used by classifier-free guidance.

    Args:
        dim: data dimension d.
        hidden: width of each hidden layer.
        depth: number of hidden layers.
        activation: one of 'silu', 'elu', 'relu', 'gelu', 'tanh'.
        n_frequencies: number of Fourier time features (0: t enters as is, as in the deck).
        num_classes: number of class labels, or None for an unconditional model.

    Shapes: x (B, d), t float / (B,) / (B, 1), y (B,) int64 or None -> (B, d).
    """

    def __init__(
        self,
        dim: int = 2,
        hidden: int = 128,
        depth: int = 3,
        activation: str = "silu",
        n_frequencies: int = 0,
        num_classes: "int | None" = None,
    ) -> None:
        super().__init__()
        check_positive_int(dim, "dim")
        check_positive_int(hidden, "hidden")
        check_positive_int(depth, "depth")
        check_positive_int(n_frequencies, "n_frequencies", minimum=0)
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"activation: expected one of {sorted(ACTIVATIONS)}, got {activation!r}"
            )
        if num_classes is not None:
            check_positive_int(num_classes, "num_classes")
        self.config = dict(
            dim=dim,
            hidden=hidden,
            depth=depth,
            activation=activation,
            n_frequencies=n_frequencies,
            num_classes=num_classes,
        )
        self.dim, self.num_classes = dim, num_classes
        self.register_buffer(
            "freqs", math.pi * 2.0 ** torch.arange(n_frequencies, dtype=torch.float32)
        )
        emb = 0 if num_classes is None else hidden // 4
        self.label = nn.Embedding(num_classes + 1, emb) if num_classes is not None else None
        layers: list[nn.Module] = []
        width = dim + 1 + 2 * n_frequencies + emb
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), ACTIVATIONS[activation]()]
            width = hidden
        layers.append(nn.Linear(width, dim))
        self.net = nn.Sequential(*layers)
        # the first layer, for forward's device and dtype checks (``self.net[0]`` costs ~8 us a
        # call); kept out of the module registry so the state dict's keys stay ``net.*``
        self.__dict__["_first"] = layers[0]

    def forward(self, x: Tensor, t: Any, y: "Tensor | None" = None) -> Tensor:
        """The velocity at (x, t) (given label y), shape (B, d)."""
        if not isinstance(x, Tensor):
            raise TypeError(
                f"x: expected a torch.Tensor of shape (B, {self.dim}), got {type(x).__name__}"
            )
        if x.is_complex():
            raise TypeError(f"x: expected real numbers, got dtype {x.dtype}")
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x: expected shape (B, {self.dim}), got {tuple(x.shape)}")
        w = self._first.weight
        if x.device != w.device:
            raise ValueError(
                f"x: is on {x.device} but the model is on {w.device}; move one with .to(...)"
            )
        if x.dtype != w.dtype:
            x = x.to(w.dtype)
        tc = time_column(t, x, values=False)
        check_finite_and_times(x, tc)  # finite x, t in [0, 1]: two small reductions per call
        if self.label is not None:
            y = self._labels(y, x.shape[0], x.device)
        elif y is not None:
            raise ValueError(
                "y: this model was built without num_classes, so it takes no label; "
                f"got {type(y).__name__}"
            )
        return self._velocity(x, tc, y)

    def _velocity(self, x: Tensor, tc: Tensor, y: "Tensor | None" = None) -> Tensor:
        """forward without the input checks (the training loop's inner call).

        Args:
            x: points, shape (B, d), in the model's dtype and device.
            tc: times, shape (B, 1).
            y: labels, shape (B,) int64, or None.
        """
        feats = [x, tc]
        if self.freqs.numel():
            ang = tc * self.freqs.to(x.dtype)
            feats += [torch.sin(ang), torch.cos(ang)]
        if self.label is not None:
            if y is None:
                y = torch.full((x.shape[0],), self.num_classes, dtype=torch.long, device=x.device)
            feats.append(self.label(y))
        return self.net(torch.cat(feats, 1))

    def _labels(self, y: "Tensor | None", batch: int, device: torch.device) -> Tensor:
        null = self.num_classes
        if y is None:
            return torch.full((batch,), null, dtype=torch.long, device=device)
        y = torch.as_tensor(y, device=device)
        if y.ndim == 0:
            y = y.expand(batch)
        if y.shape != (batch,) or y.dtype.is_floating_point:
            raise ValueError(
                f"y: expected {batch} integer labels, got {tuple(y.shape)} of {y.dtype}"
            )
        y = y.long()
        if y.device.type != "meta" and y.numel():
            lo, hi = torch.stack(torch.aminmax(y)).tolist()  # one reduction, one read back
            if lo < 0 or hi > null:
                raise ValueError(
                    f"y: expected labels in 0..{null - 1} (or {null} for 'no label'), "
                    f"got {lo}..{hi}"
                )
        return y
