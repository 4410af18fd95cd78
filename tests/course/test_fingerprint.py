"""fmtutor.course._fingerprint (cache.fingerprint): the code and data a training function reads, hashed; nothing else.

Each kind of training input a chapter uses (a global tensor, a closure's array, a torch Generator's state,
a network's weights, a TensorDataset, an fmtutor object holding tensors, explicit ``data``) changes the
``data`` hash when edited; an edited constant in the code or a recipe dict changes the ``code`` hash; the
same code hashed twice (re-executed, as a notebook cell is) gives the same hash.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

import fmtutor as fm
from fmtutor.course._fingerprint import fingerprint

CELL = """
import torch
import fmtutor as fm
RECIPE = dict(steps={steps})
pool = torch.arange(6.0).reshape(3, 2)


def train():
    sizes = [n * 2 for n in range(3)]  # a comprehension and a lambda: nested code objects
    pick = lambda k: sizes[k]
    model = fm.models.MLP(2, hidden=pick(2) + 4, depth=1)
    return model, {{"steps": RECIPE["steps"], "rows": len(pool)}}
"""


def _cell(steps: int = 3):
    namespace = {"__name__": "__main__"}
    exec(compile(CELL.format(steps=steps), "<cell>", "exec"), namespace)  # no source: bytecode
    return namespace


def test_re_executed_code_hashes_the_same_and_edits_change_it():
    """Before the fix, nested code objects were hashed by their repr (with an address): never equal."""
    a, b = _cell(), _cell()
    assert fingerprint(a["train"]) == fingerprint(b["train"])
    assert fingerprint(_cell(steps=4)["train"])["code"] != fingerprint(a["train"])["code"]
    b["pool"][0, 0] = 99.0
    changed = fingerprint(b["train"])
    assert changed["data"] != fingerprint(a["train"])["data"]
    assert changed["code"] == fingerprint(a["train"])["code"]


def test_every_kind_of_training_data_is_seen():
    arr = np.zeros(4)
    gen = torch.Generator().manual_seed(0)
    net = torch.nn.Linear(2, 2)
    ds = TensorDataset(torch.zeros(3, 2))
    split = fm.images.split_digits(397, seed=0)
    box = {"x": torch.zeros(2)}

    def train():
        return arr, gen, net, ds, split

    for edit in (
        lambda: arr.__setitem__(0, 1.0),
        lambda: torch.randn(1, generator=gen),
        lambda: net.weight.data.add_(1.0),
        lambda: ds.tensors[0].add_(1.0),
        lambda: split.x_train.add_(1.0),
    ):
        before = fingerprint(train)
        edit()
        after = fingerprint(train)
        assert after["data"] != before["data"] and after["code"] == before["code"]
    before = fingerprint(train, data=box)
    box["x"][0] = 1.0
    assert fingerprint(train, data=box)["data"] != before["data"]


def test_installed_libraries_and_unread_globals_are_not_followed(monkeypatch):
    unread = torch.zeros(3)

    def train():
        return torch.nn.functional.relu(torch.ones(2))

    before = fingerprint(train)
    unread += 1  # a global the function never reads
    monkeypatch.setattr(torch.nn.functional, "relu", lambda x: x)  # torch is not hashed
    assert fingerprint(train) == before


def test_a_training_function_is_required():
    with pytest.raises(TypeError, match="train_fn: expected the training function, got int"):
        fingerprint(3)
