"""The deck's two-moons recipe, re-implemented from its stated settings (the baseline of the benchmark).

Settings (as the deck describes them): an MLP on [t, x] with three hidden layers of width 64 and ELU
activations; Adam with a constant learning rate of 1e-2; the mean-squared error between the network
and x_1 - x_0 (averaged over batch *and* coordinates); 10,000 steps; a fresh
``make_moons(256, noise=0.05)`` batch drawn at every step; the midpoint rule to sample.
Written here from those settings, not copied from the deck.
"""

__all__ = ["DeckFlow", "train_deck", "DECK"]

import time
from collections.abc import Callable

import numpy as np
import torch
from sklearn.datasets import make_moons
from torch import Tensor, nn

#: The deck's settings.
DECK = {
    "hidden": 64,
    "depth": 3,
    "activation": "elu",
    "lr": 1e-2,
    "batch_size": 256,
    "steps": 10_000,
    "noise": 0.05,
    "sampler": "midpoint",
}


class DeckFlow(nn.Module):
    """u_theta(x, t) as in the deck: Linear(3, 64)-ELU-(Linear(64, 64)-ELU) x 2-Linear(64, 2) on [t, x]."""

    def __init__(self, dim: int = 2, hidden: int = 64) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(dim + 1, hidden), nn.ELU()]
        for _ in range(2):
            layers += [nn.Linear(hidden, hidden), nn.ELU()]
        self.net = nn.Sequential(*layers, nn.Linear(hidden, dim))

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        """x: (B, d); t: a 0-d tensor, (B,) or (B, 1) -> velocity (B, d)."""
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).reshape(-1, 1).expand(x.shape[0], 1)
        return self.net(torch.cat([t, x], dim=1))


def train_deck(
    seed: int = 0,
    steps: int = DECK["steps"],
    device: "str | torch.device" = "cpu",
    sampler: "Callable[..., Tensor] | None" = None,
) -> tuple[DeckFlow, dict]:
    """Train the deck's recipe; returns (model in eval mode, {'wall_s', 'cpu_s', 'steps', 'final_loss'}).

    Seeds torch and NumPy's global generator (the deck's ``make_moons`` calls draw from it). With
    ``sampler`` (e.g. ``fmtutor.data.checkerboard``) the same recipe trains on another 2-D target:
    a fresh batch ``sampler(256, seed=generator)`` every step, as the deck draws fresh moons.
    """
    torch.manual_seed(seed)
    np.random.seed(seed)
    device = torch.device(device)
    model = DeckFlow().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=DECK["lr"])
    mse = nn.MSELoss()
    wall, cpu = time.perf_counter(), time.process_time()
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        if sampler is None:
            x_1 = torch.tensor(
                make_moons(DECK["batch_size"], noise=DECK["noise"])[0],
                dtype=torch.float32,
                device=device,
            )
        else:
            x_1 = torch.as_tensor(sampler(DECK["batch_size"], seed=gen), dtype=torch.float32)
            x_1 = x_1.to(device)
        x_0 = torch.randn_like(x_1)
        t = torch.rand(x_1.shape[0], 1, device=device)
        x_t = (1 - t) * x_0 + t * x_1
        opt.zero_grad()
        loss = mse(model(x_t, t), x_1 - x_0)
        loss.backward()
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    info = {
        "wall_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu,
        "steps": steps,
        "final_loss": float(loss.detach()),
    }
    return model.eval(), info
