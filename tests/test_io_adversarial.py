"""Adversarial model files: whatever happened to a file, load_model either returns the saved model or raises.

A ``ModelFileError`` (a ValueError naming the file) is the only acceptable failure; a model that loads
but differs from the one saved is the failure this file hunts for: truncation at every tenth of the file,
flipped bits in the weights, garbage, empty files, folders, tampered headers and configs, NaN weights,
dtypes, and the cache recreating itself over each of them.
"""

from __future__ import annotations

import io as _io
import pickle
import zipfile
from collections import deque
from pathlib import Path

import pytest
import torch

from fmtutor import io as fio
from fmtutor.course import cache
from fmtutor.models import MLP


def _model(**kw) -> MLP:
    torch.manual_seed(0)
    return MLP(hidden=8, depth=1, **kw)


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(
        torch.equal(sa[k], sb[k]) and sa[k].dtype == sb[k].dtype for k in sa
    )


def _load_or_error(path: Path, original: torch.nn.Module) -> str:
    """'error' if load_model refused the file, 'same' if it gave back the original; fails on anything else."""
    try:
        model, _ = fio.load_model(path)
    except fio.ModelFileError as e:
        assert str(path.name) in str(e), f"the error does not name the file: {e}"
        return "error"
    assert _same(model, original), (
        f"{path.name}: load_model returned a model that differs from the saved one"
    )
    return "same"


@pytest.fixture()
def saved(tmp_path):
    model = _model()
    path = tmp_path / "m.pt"
    fio.save_model(model, path, note="x")
    return model, path, path.read_bytes()


def test_truncated_anywhere_never_loads_a_wrong_model(saved, tmp_path):
    model, _, raw = saved
    outcomes = []
    for i, cut in enumerate(
        sorted({0, 1, 10, 100, *range(0, len(raw), max(1, len(raw) // 10)), len(raw) - 1})
    ):
        p = tmp_path / f"cut{i}.pt"
        p.write_bytes(raw[:cut])
        outcomes.append(_load_or_error(p, model))
    assert outcomes and all(o == "error" for o in outcomes)


def test_flipped_bits_in_the_weights_are_detected(saved, tmp_path):
    model, _, raw = saved
    w = model.net[0].weight.detach().numpy().tobytes()
    start = raw.find(w[:16])
    assert start > 0
    for k, offset in enumerate((0, 5, len(w) - 1)):
        bad = bytearray(raw)
        bad[start + offset] ^= 0x10
        p = tmp_path / f"flip{k}.pt"
        p.write_bytes(bytes(bad))
        assert _load_or_error(p, model) == "error", "a corrupted weight loaded silently"


def test_flipped_bytes_anywhere_never_load_a_wrong_model(saved, tmp_path):
    model, _, raw = saved
    for k, pos in enumerate(range(7, len(raw), max(1, len(raw) // 25))):
        bad = bytearray(raw)
        bad[pos] ^= 0xFF
        p = tmp_path / f"byte{k}.pt"
        p.write_bytes(bytes(bad))
        _load_or_error(p, model)  # 'error' or exactly the saved model, never something else


@pytest.mark.parametrize(
    "content", [b"", b"not a model", b"PK\x03\x04" + b"\x00" * 40, bytes(range(256)) * 4]
)
def test_garbage_files_are_refused(tmp_path, content):
    p = tmp_path / "g.pt"
    p.write_bytes(content)
    with pytest.raises(fio.ModelFileError, match="g.pt"):
        fio.load_model(p)


def test_a_folder_or_a_wrong_path_type(tmp_path):
    with pytest.raises(fio.ModelFileError, match="no such model file"):
        fio.load_model(tmp_path)
    with pytest.raises(TypeError, match="path: expected a file path"):
        fio.load_model(123)
    with pytest.raises(TypeError, match="path: expected a file path"):
        fio.save_model(_model(), None)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_pickled_code_is_not_executed(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    p = tmp_path / "evil.pt"
    torch.save({"format": fio.FORMAT, "payload": Evil()}, p)
    with pytest.raises(fio.ModelFileError, match="cannot read"):
        fio.load_model(p)
    p2 = tmp_path / "pickle.pt"
    p2.write_bytes(pickle.dumps({"format": fio.FORMAT}))
    with pytest.raises(fio.ModelFileError):
        fio.load_model(p2)


def _rewrite(path: Path, **changes) -> None:
    payload = torch.load(path, weights_only=True)
    for k, v in changes.items():
        if v is KeyError:
            payload.pop(k)
        else:
            payload[k] = v
    torch.save(payload, path)


@pytest.mark.parametrize(
    "change,match",
    [
        (dict(config={"dim": 2, "hidden": 8, "depth": 1}), "incomplete model config"),
        (
            dict(
                config={
                    "dim": 2,
                    "hidden": 8,
                    "depth": 1,
                    "activation": "silu",
                    "n_frequencies": 0,
                    "num_classes": None,
                    "dropout": 0.1,
                }
            ),
            "rejected the stored config",
        ),
        (dict(config=[2, 8, 1]), "config should be a dict"),
        (dict(state_dict=[1, 2, 3]), "dict of tensors"),
        (dict(state_dict={"net.0.weight": "w"}), "dict of tensors"),
        (dict(format_version=2), "file format version"),
        (dict(fmtutor_version="9.9"), "written by fmtutor 9.9"),
        (dict(**{"class": "UNet"}), "unknown model class"),
        (dict(extra=KeyError), "missing entries"),
        (dict(format="something-else"), "not an fmtutor model file"),
    ],
)
def test_tampered_headers_are_refused(saved, change, match):
    _, path, _ = saved
    _rewrite(path, **change)
    with pytest.raises(fio.ModelFileError, match=match):
        fio.load_model(path)


def test_weights_that_do_not_match_the_checksum_or_are_nan(saved):
    model, path, _ = saved
    payload = torch.load(path, weights_only=True)
    payload["state_dict"]["net.0.bias"] = payload["state_dict"]["net.0.bias"] + 1
    torch.save(payload, path)
    with pytest.raises(fio.ModelFileError, match="checksum"):
        fio.load_model(path)
    payload.pop("checksum")
    payload["state_dict"]["net.0.bias"][0] = float("nan")
    torch.save(payload, path)
    with pytest.raises(fio.ModelFileError, match="NaN or inf"):
        fio.load_model(path)


def test_nan_weights_are_not_saved(tmp_path):
    model = _model()
    with torch.no_grad():
        model.net[0].weight[0, 0] = float("inf")
    with pytest.raises(
        ValueError, match=r"model: expected finite weights, got NaN or inf in \['net.0.weight'\]"
    ):
        fio.save_model(model, tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_round_trip_keeps_dtype_values_and_outputs(tmp_path, dtype):
    model = _model(num_classes=3, n_frequencies=2).to(dtype)
    fio.save_model(model, tmp_path / "m.pt", losses=torch.arange(3.0))
    back, extra = fio.load_model(tmp_path / "m.pt")
    assert _same(model, back) and next(back.parameters()).dtype == dtype and not back.training
    x = torch.randn(5, 2, dtype=dtype)
    assert torch.equal(
        model(x, 0.3, torch.tensor([0, 1, 2, 3, 0])), back(x, 0.3, torch.tensor([0, 1, 2, 3, 0]))
    )
    assert torch.equal(extra["losses"], torch.arange(3.0))


def test_interrupted_save_leaves_the_old_file(tmp_path, monkeypatch):
    model, path = _model(), tmp_path / "m.pt"
    fio.save_model(model, path)
    before = path.read_bytes()

    def crash(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(fio.torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        fio.save_model(_model(dim=3), path)
    assert path.read_bytes() == before


def test_cache_recreates_itself_over_every_kind_of_broken_file(tmp_path, capsys):
    path = tmp_path / "cache" / "m.pt"
    calls = deque()  # a counter the cache's fingerprint does not read (a list would be)

    def train():
        calls.append(1)
        return _model(), {"losses": [1.0, 0.5]}

    cfg = {"seed": 0, "steps": 10}
    assert cache.cached_model(path, train, cfg).status == "trained"
    good = path.read_bytes()
    breakages = {
        "missing": None,
        "truncated": good[: len(good) // 2],
        "garbage": b"junk",
        "flipped": None,
        "stale": "stale",
    }
    for why, content in breakages.items():
        if why == "missing":
            path.unlink()
        elif why == "flipped":
            w = _model().net[0].weight.detach().numpy().tobytes()
            bad = bytearray(good)
            bad[good.find(w[:16]) + 3] ^= 0x08
            path.write_bytes(bytes(bad))
        elif why == "stale":
            path.write_bytes(good)
            res = cache.cached_model(path, train, {**cfg, "steps": 11})
            assert res.status == "trained" and "stale" in res.reason
            continue
        else:
            path.write_bytes(content)
        res = cache.cached_model(path, train, cfg)
        assert res.status == "trained", why
        assert _same(res.model, _model())
    n = len(calls)
    res = cache.cached_model(path, train, {**cfg, "steps": 11})
    assert res.status == "loaded" and len(calls) == n


def test_the_zip_members_are_what_torch_expects(saved):
    """A sanity check that the corruption tests above really corrupt weight bytes (not just the zip header)."""
    _, path, raw = saved
    with zipfile.ZipFile(_io.BytesIO(raw)) as z:
        assert any(name.endswith("data.pkl") for name in z.namelist())
