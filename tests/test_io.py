"""fmtutor.io: model files round-trip exactly, bad files fail loudly."""

import numpy as np
import pytest
import torch

from fmtutor import io as fio
from fmtutor.models import MLP


def small(seed: int = 0, **kw) -> MLP:
    torch.manual_seed(seed)
    return MLP(hidden=kw.pop("hidden", 16), depth=kw.pop("depth", 2), **kw)


def test_round_trip_gives_identical_outputs(tmp_path):
    model = small(n_frequencies=2)
    path = tmp_path / "sub" / "m.pt"
    fio.save_model(model, path, losses=np.arange(3.0), note="x", cfg={"a": (1, 2)})
    loaded, extra = fio.load_model(path)
    assert type(loaded) is MLP and loaded.config == model.config
    x, t = torch.randn(50, 2), torch.rand(50)
    assert torch.equal(loaded(x, t), model(x, t))
    assert torch.equal(extra["losses"], torch.arange(3.0, dtype=torch.float64))
    assert extra["note"] == "x" and extra["cfg"] == {"a": [1, 2]}
    assert not loaded.training
    assert not (tmp_path / "sub" / "m.pt.tmp").exists()


def test_round_trip_conditional_model(tmp_path):
    model = small(num_classes=3)
    fio.save_model(model, tmp_path / "c.pt")
    loaded, _ = fio.load_model(tmp_path / "c.pt")
    x, t, y = torch.randn(7, 2), torch.rand(7), torch.tensor([0, 1, 2, 3, 0, 1, 2])
    assert torch.equal(loaded(x, t, y), model(x, t, y))


def test_missing_file_names_it(tmp_path):
    with pytest.raises(fio.ModelFileError, match="nope.pt: no such model file"):
        fio.load_model(tmp_path / "nope.pt")


def test_truncated_file_raises_clear_error(tmp_path):
    path = tmp_path / "m.pt"
    fio.save_model(small(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        fio.ModelFileError, match=r"m\.pt: cannot read the model file \(truncated or corrupted\?\)"
    ):
        fio.load_model(path)
    path.write_bytes(b"")
    with pytest.raises(fio.ModelFileError, match="m.pt"):
        fio.load_model(path)


def test_foreign_and_old_files_are_refused(tmp_path):
    path = tmp_path / "f.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(fio.ModelFileError, match="not an fmtutor model file"):
        fio.load_model(path)
    model = small()
    fio.save_model(model, path)
    payload = torch.load(path, weights_only=True)
    torch.save({**payload, "format_version": fio.FORMAT_VERSION + 1}, path)
    with pytest.raises(fio.ModelFileError, match="file format version"):
        fio.load_model(path)
    torch.save({**payload, "fmtutor_version": "0.0.0-old"}, path)
    with pytest.raises(fio.ModelFileError, match="written by fmtutor 0.0.0-old"):
        fio.load_model(path)
    assert isinstance(fio.load_model(path, check_version=False)[0], MLP)
    payload.pop("state_dict")
    torch.save(payload, path)
    with pytest.raises(fio.ModelFileError, match="missing entries"):
        fio.load_model(path)


def test_mismatched_config_or_state_is_refused(tmp_path):
    path = tmp_path / "m.pt"
    fio.save_model(small(), path)
    payload = torch.load(path, weights_only=True)
    # the config says 32 hidden units, the weights have 16: shapes do not fit
    torch.save({**payload, "config": {**payload["config"], "hidden": 32}}, path)
    with pytest.raises(fio.ModelFileError, match="wrong shapes"):
        fio.load_model(path)
    # one layer more in the config than in the weights: keys do not fit
    torch.save({**payload, "config": {**payload["config"], "depth": 3}}, path)
    with pytest.raises(fio.ModelFileError, match="missing"):
        fio.load_model(path)
    torch.save({**payload, "config": {**payload["config"], "colour": "red"}}, path)
    with pytest.raises(fio.ModelFileError, match="rejected the stored config"):
        fio.load_model(path)
    torch.save({**payload, "class": "Transformer"}, path)
    with pytest.raises(fio.ModelFileError, match="unknown model class 'Transformer'"):
        fio.load_model(path)


def test_save_refuses_what_it_cannot_restore(tmp_path):
    with pytest.raises(TypeError, match="model: cannot save a Linear"):
        fio.save_model(torch.nn.Linear(2, 2), tmp_path / "x.pt")
    with pytest.raises(TypeError, match=r"extra\['f'\]: cannot store a function"):
        fio.save_model(small(), tmp_path / "x.pt", f=lambda: 0)
    assert not (tmp_path / "x.pt").exists()


def test_read_header_describes_the_file_without_building_the_model(tmp_path):
    import fmtutor as fm

    model = small(num_classes=3)
    fio.save_model(model, tmp_path / "h.pt", note="x")
    header = fio.read_header(tmp_path / "h.pt")
    assert header["format"] == fio.FORMAT and header["format_version"] == fio.FORMAT_VERSION
    assert header["class"] == "MLP" and header["config"] == model.config
    assert header["fmtutor_version"] == fm.__version__
    assert all(torch.equal(header["state_dict"][k], v) for k, v in model.state_dict().items())
