"""fmtutor.training: the loop calls the model through its public forward, draws as documented, cleans up."""

import copy

import numpy as np
import pytest
import torch

import fmtutor as fm

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class _Recorder(torch.nn.Module):
    """A velocity 'model' that records the times it is trained at."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.times: list[torch.Tensor] = []

    def forward(self, x, t):
        self.times.append(t.detach().reshape(-1).clone())
        return x * self.w


@pytest.mark.parametrize("mode", ["uniform", "stratified"])
def test_time_sampling_draws_one_time_per_slice_when_stratified(mode):
    rec, b = _Recorder(), 64
    fm.training.train_cfm(
        rec,
        fm.data.two_moons(256, seed=0),
        steps=3,
        batch_size=b,
        seed=0,
        progress=False,
        time_sampling=mode,
        device="cpu",
    )
    for t in rec.times:
        assert t.shape == (b,) and bool(((t >= 0) & (t <= 1)).all())
        slices = torch.floor(t * b).long()
        if mode == "stratified":
            assert torch.equal(slices, torch.arange(b)), "sample i must draw t in [i/B, (i+1)/B)"
        else:
            assert len(set(slices.tolist())) < b, (
                "uniform times should leave some slices empty (64 draws)"
            )


def test_time_sampling_rejects_unknown_modes():
    with pytest.raises(ValueError, match="time_sampling"):
        fm.training.train_cfm(
            _Recorder(),
            fm.data.two_moons(16, seed=0),
            steps=1,
            time_sampling="sorted",
            progress=False,
        )


def test_training_restores_the_thread_count_and_keeps_per_step_losses():
    before = torch.get_num_threads()
    res = fm.training.train_cfm(
        fm.models.MLP(hidden=8, depth=1),
        fm.data.two_moons(64, seed=0),
        steps=5,
        batch_size=8,
        progress=False,
        device="cpu",
        num_threads=1,
    )
    assert torch.get_num_threads() == before
    assert res.losses.shape == (5,) and np.isfinite(res.losses).all()
    assert (
        res.lrs[0] == pytest.approx(3e-3) and res.lrs[-1] < res.lrs[0]
    )  # train_cfm's own default lr, cosine decay


class _CountingMLP(fm.models.MLP):
    """The course MLP, counting the calls of its public forward."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.calls = 0

    def forward(self, x, t, y=None):
        self.calls += 1
        return super().forward(x, t, y)


def test_the_loop_calls_the_public_forward_once_per_step():
    torch.manual_seed(0)
    model = _CountingMLP(hidden=8, depth=1)
    fm.training.train_cfm(
        model, fm.data.two_moons(64, seed=0), steps=7, batch_size=8, progress=False, device="cpu"
    )
    assert model.calls == 7


def _adam(model):
    return torch.optim.Adam(model.parameters(), lr=3e-3)


def test_losses_are_bit_identical_to_a_hand_written_loop_of_the_same_draws():
    """CondOT, independent pairs, uniform times, constant rate: the loop is the textbook one, draw for draw."""
    pool = fm.data.two_moons(128, seed=0)
    torch.manual_seed(1)
    model = fm.models.MLP(hidden=16, depth=2)
    twin = copy.deepcopy(model)
    steps, b, seed = 6, 32, 5
    res = fm.training.train_cfm(
        model,
        pool,
        steps=steps,
        batch_size=b,
        optimizer=_adam(model),
        lr_schedule="constant",
        seed=seed,
        progress=False,
        device="cpu",
    )
    g = fm.data.make_generator(seed)
    opt = _adam(twin)
    twin.train()
    losses = []
    for _ in range(steps):
        x1 = pool[torch.randint(0, pool.shape[0], (b,), generator=g)]
        x0 = torch.randn(x1.shape, generator=g)
        t = torch.rand(b, generator=g)
        dx_t = x1 - x0  # CondOT: x_t = x_0 + t (x_1 - x_0), the target x_1 - x_0
        x_t = x0 + t[:, None] * dx_t
        loss = ((twin(x_t, t) - dx_t) ** 2).sum(1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.array_equal(res.losses, np.array(losses))
    assert all(
        torch.equal(a, c) for a, c in zip(model.state_dict().values(), twin.state_dict().values())
    )


def test_float64_data_trains_a_float32_model():
    """The loop calls model(x, t), which casts the float64 batch to the model's dtype."""
    torch.manual_seed(0)
    model = fm.models.MLP(hidden=8, depth=1)
    pool = fm.data.two_moons(256, seed=0).double()
    res = fm.training.train_cfm(model, pool, steps=4, batch_size=16, progress=False, device="cpu")
    assert np.isfinite(res.losses).all() and res.losses.shape == (4,)
    assert next(model.parameters()).dtype == torch.float32
