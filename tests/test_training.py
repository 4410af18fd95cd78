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


def test_fixed_noise_trains_on_the_pools_rows_draw_for_draw():
    """noise=N: every batch pairs pool rows with the same rows of N, and the other draws are unchanged."""
    pool = fm.data.two_moons(64, seed=0)
    noise = torch.randn(64, 2, generator=fm.data.make_generator(9))
    torch.manual_seed(1)
    model = fm.models.MLP(hidden=16, depth=2)
    twin = copy.deepcopy(model)
    kw = dict(steps=5, batch_size=16, seed=3, progress=False, device="cpu")
    res = fm.training.train_cfm(model, pool, noise=noise.double().numpy(), **kw)
    last = []  # by hand: a sampler that remembers its rows, a coupling that hands back their noise

    def draw(n, seed):
        rows = torch.randint(0, pool.shape[0], (n,), generator=seed)
        last.append(rows)
        return pool[rows]

    def couple(x_0, x_1):  # x_0 (fresh noise, still drawn) is replaced by the rows' noise
        return noise[last[-1]], x_1

    ref = fm.training.train_cfm(twin, draw, coupling=couple, **kw)
    assert np.array_equal(res.losses, ref.losses)
    fresh = fm.training.train_cfm(copy.deepcopy(twin), pool, **kw)
    assert not np.array_equal(res.losses, fresh.losses)  # fixed noise is not fresh noise


def test_fixed_noise_is_refused_clearly_unless_it_matches_a_pool():
    model = fm.models.MLP(hidden=8, depth=1)
    pool = fm.data.two_moons(32, seed=0)
    kw = dict(steps=1, batch_size=4, progress=False, device="cpu")
    with pytest.raises(TypeError, match="noise: .*sampler"):
        fm.training.train_cfm(model, fm.data.two_moons, noise=torch.zeros(32, 2), **kw)
    with pytest.raises(
        ValueError, match=r"noise: expected one row per pool point, shape \(32, 2\)"
    ):
        fm.training.train_cfm(model, pool, noise=torch.zeros(31, 2), **kw)
    bad = torch.zeros(32, 2)
    bad[3, 1] = float("nan")
    with pytest.raises(ValueError, match="noise: expected finite"):
        fm.training.train_cfm(model, pool, noise=bad, **kw)


def test_float64_data_trains_a_float32_model():
    """The loop calls model(x, t), which casts the float64 batch to the model's dtype."""
    torch.manual_seed(0)
    model = fm.models.MLP(hidden=8, depth=1)
    pool = fm.data.two_moons(256, seed=0).double()
    res = fm.training.train_cfm(model, pool, steps=4, batch_size=16, progress=False, device="cpu")
    assert np.isfinite(res.losses).all() and res.losses.shape == (4,)
    assert next(model.parameters()).dtype == torch.float32


# ---- what a student passes: converted once to the model's dtype, or refused clearly ----------


def _train(model, data, **kw):
    kw = {"steps": 4, "batch_size": 16, "progress": False, "device": "cpu", **kw}
    return fm.training.train_cfm(model, data, **kw)


def _mlp(seed=0, **kw):
    torch.manual_seed(seed)
    return fm.models.MLP(hidden=8, depth=1, **kw)


class _Linear(torch.nn.Module):
    """A model without input checks (the loop's own checks are all that stand between it and NaN)."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(2, 2)
        self.seen: list[torch.dtype] = []

    def forward(self, x, t, y=None):
        self.seen.append(x.dtype)
        return self.lin(x)


def test_float64_numpy_and_integer_pools_train_exactly_like_the_float32_pool():
    """scikit-learn's make_moons (float64 NumPy, the deck's data), float64 and integer tensors."""
    from sklearn.datasets import make_moons

    moons = make_moons(256, noise=0.05, random_state=0)[0]  # float64 NumPy
    want = _train(_mlp(), torch.tensor(moons, dtype=torch.float32)).losses
    for pool in (moons, torch.tensor(moons)):
        assert np.array_equal(_train(_mlp(), pool).losses, want), type(pool)
    ints = torch.randint(-3, 4, (256, 2), generator=torch.Generator().manual_seed(0))
    assert np.array_equal(_train(_mlp(), ints).losses, _train(_mlp(), ints.float()).losses)
    model = _Linear()
    _train(model, torch.tensor(moons))
    assert set(model.seen) == {torch.float32}, "the batches reach the model in its own dtype"


def test_a_float64_model_trains_on_a_float32_pool_in_float64():
    pool = fm.data.two_moons(256, seed=0)
    model = _mlp().double()
    got = _train(model, pool).losses
    assert next(model.parameters()).dtype == torch.float64
    assert np.array_equal(got, _train(_mlp().double(), pool.double()).losses)


def test_a_sampler_returning_float64_or_numpy_trains_like_one_returning_float32():
    want = _train(_mlp(), fm.data.two_moons).losses
    for sampler in (
        lambda n, seed: fm.data.two_moons(n, seed=seed).double(),
        lambda n, seed: fm.data.two_moons(n, seed=seed).double().numpy(),
    ):
        assert np.array_equal(_train(_mlp(), sampler).losses, want)


def test_a_sampler_returning_nan_stops_training_with_a_message():
    calls = []
    with pytest.raises(ValueError, match=r"data\(n\): expected finite numbers, got 32 NaN"):
        _train(
            _Linear(),
            lambda n, seed: torch.full((n, 2), float("nan")),
            callback=lambda step, loss: calls.append(loss),
        )
    assert calls == [], "not a single NaN loss was trained on"
    with pytest.raises(ValueError, match=r"data\(n\): expected 16 points"):
        _train(_Linear(), lambda n, seed: torch.zeros(n + 1, 2))


def test_labels_are_refused_unless_they_are_one_integer_per_point_for_a_conditional_model():
    pool = fm.data.two_moons(100, seed=0)
    labels = torch.arange(100) % 3
    with pytest.raises(ValueError, match="data labels: got class labels, but the model is unc"):
        _train(_mlp(), (pool, labels))  # unconditional: the labels would be ignored
    with pytest.raises(ValueError, match=r"data labels: expected one label per point, shape \(100"):
        _train(_mlp(num_classes=3), (pool, torch.cat([labels, labels])))  # mis-paired
    with pytest.raises(ValueError, match=r"data labels: expected one label per point.*\(99,\)"):
        _train(_mlp(num_classes=3), (pool, labels[:99]))
    with pytest.raises(ValueError, match="data labels: expected integer class labels, got dtype"):
        _train(_mlp(num_classes=3), (pool, labels + 0.5))  # would be truncated
    with pytest.raises(ValueError, match=r"data labels: expected classes in 0\.\.2 .*got 3\.\.5"):
        _train(_mlp(num_classes=3), (pool, labels + 3))
    with pytest.raises(ValueError, match="label_dropout: expected 0 for a model without num_cl"):
        _train(_mlp(), pool, label_dropout=0.2)  # nothing to drop: would be ignored
    with pytest.raises(ValueError, match=r"data: expected \(pool, labels\) to drop labels"):
        _train(_mlp(num_classes=3), pool, label_dropout=0.2)
    with pytest.raises(ValueError, match=r"data\(n\): expected \(points, labels\) to drop"):
        _train(_mlp(num_classes=3), fm.data.two_moons, label_dropout=0.2)
    with pytest.raises(ValueError, match=r"data\(n\) labels: got class labels, but the model"):
        _train(_mlp(), lambda n, seed: (fm.data.two_moons(n, seed=seed), torch.zeros(n).long()))


def test_numpy_labels_train_exactly_like_tensor_labels():
    pool = fm.data.two_moons(100, seed=0)
    labels = torch.arange(100) % 3
    want = _train(_mlp(num_classes=3), (pool, labels), label_dropout=0.2).losses
    got = _train(_mlp(num_classes=3), (pool.double().numpy(), labels.numpy()), label_dropout=0.2)
    assert np.array_equal(got.losses, want)


def test_cfm_loss_refuses_an_empty_batch_instead_of_returning_nan():
    empty = torch.zeros(0, 2)
    with pytest.raises(ValueError, match=r"x_0: expected a non-empty batch.*\(0, 2\)"):
        fm.training.cfm_loss(_mlp(), empty, empty, torch.zeros(0))


def _apple_laptop(monkeypatch):
    """A machine where MPS is available and CUDA is not (the CPU stands in: nothing runs on MPS)."""
    monkeypatch.delenv("FMTUTOR_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)


def test_a_float64_model_is_refused_clearly_on_mps_before_anything_moves(monkeypatch):
    _apple_laptop(monkeypatch)
    assert fm.default_device() == torch.device("mps")
    model, calls = _mlp().double(), []
    pool = fm.data.two_moons(64, seed=0)
    with pytest.raises(ValueError, match=r"device: .*got 'mps' \(Apple GPUs have no float64\)"):
        fm.training.train_cfm(model, pool, steps=2, progress=False, callback=calls.append)
    assert calls == [] and next(model.parameters()).device.type == "cpu"
    with pytest.raises(ValueError, match=r"device: .*got 'mps'"):
        fm.training.sample_model(model, 4, device="mps")
    # a float64 *pool* is no problem: it is converted to the float32 model's dtype on the CPU,
    # before anything moves (checked here by training on the CPU, which FMTUTOR_DEVICE forces)
    monkeypatch.setenv("FMTUTOR_DEVICE", "cpu")
    res = fm.training.train_cfm(_mlp(), pool.double(), steps=2, batch_size=8, progress=False)
    assert np.isfinite(res.losses).all()
    res = fm.training.train_cfm(_mlp().double(), pool, steps=2, batch_size=8, progress=False)
    assert np.isfinite(res.losses).all(), "FMTUTOR_DEVICE=cpu lets a float64 model train"


@pytest.mark.parametrize("p", [0.0, 0.3])
def test_label_dropout_replaces_a_fraction_p_of_labels_by_no_label(p):
    """The model sees label num_classes ("no label") on a fraction p of its training points."""
    seen = []

    class Spy(fm.models.MLP):
        def forward(self, x, t, y=None):
            seen.append(y.clone())
            return super().forward(x, t, y)

    torch.manual_seed(0)
    model = Spy(hidden=8, depth=1, num_classes=3)
    pool = torch.randn(300, 2)
    labels = torch.arange(300) % 3
    _train(model, (pool, labels), steps=40, batch_size=100, label_dropout=p)
    y = torch.cat(seen)
    assert len(y) == 4000
    share = (y == 3).double().mean().item()
    assert abs(share - p) < 4 * (p * (1 - p) / len(y)) ** 0.5 + 1e-12, share
    assert set(y[y != 3].tolist()) <= {0, 1, 2}
