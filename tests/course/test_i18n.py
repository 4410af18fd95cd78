"""fmtutor.course.i18n: every message a student reads exists in both languages, and Chinese renders.

The catalogue is checked against the code: every ``tr("...")`` in the course layer and in the chapters'
code cells has a Chinese entry with the same ``{fields}``, no entry is left that no code uses, and every
Chinese character the course can draw has a glyph in the CJK font that ``setup(lang="zh")`` chooses.
"""

from __future__ import annotations

import ast
import json
import os
import re
import string
from pathlib import Path

import matplotlib
import numpy as np
import pytest

from fmtutor.course import i18n

ROOT = Path(__file__).resolve().parents[2]
COURSE = ROOT / "fmtutor" / "course"
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")


def tr_calls(tree: ast.AST, where: str) -> tuple[list[str], list[str]]:
    """The literal messages of every ``tr(...)`` call in ``tree``, and the calls whose message is not one."""
    found, bad = [], []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", "")) == "tr"
        ):
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.append(first.value)
            else:
                bad.append(f"{where}:{node.lineno}")
    return found, bad


def messages() -> tuple[set[str], list[str]]:
    """Every message the course passes to ``tr``, from its modules and its chapters' code cells."""
    found, bad = set(), []
    for path in COURSE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        f, b = tr_calls(ast.parse(text), str(path.relative_to(ROOT)))
        found.update(f)
        found.update(re.findall(r'>>> .*\btr\("([^"]+)"', text))  # examples in docstrings
        bad += b
    for nb in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        for cell in json.loads(nb.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] != "code":
                continue
            src = "".join(cell["source"])
            src = "\n".join(
                line for line in src.splitlines() if not line.lstrip().startswith(("%", "!"))
            )
            try:
                f, b = tr_calls(ast.parse(src), f"{nb.name}:{cell['id']}")
            except SyntaxError:
                continue
            found.update(f)
            bad += b
    return found, bad


def fields(text: str) -> set[str]:
    """The names of a message's ``{fields}``."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_every_message_is_a_literal_with_a_chinese_translation():
    found, bad = messages()
    assert not bad, f"tr() needs a string literal as its message (tests find messages by it): {bad}"
    zh = i18n.catalogue("zh")
    missing = sorted(found - zh.keys())
    assert not missing, (
        f"{len(missing)} messages have no Chinese in fmtutor/course/locale/zh/: {missing[:10]}"
    )
    unused = sorted(zh.keys() - found)
    assert not unused, f"catalogue entries no code uses (delete them): {unused[:10]}"
    for key, text in zh.items():
        assert fields(key) == fields(text), f"{key!r} -> {text!r}: the {{fields}} differ"
        assert CJK.search(text) or not re.search(r"[A-Za-z]{3}", key), f"{key!r} is not translated"


def test_tr_switches_language_and_fills_fields():
    try:
        i18n.set_language("zh")
        assert i18n.tr(
            "fmtutor setup: seed {seed}, {threads} CPU thread(s), device {device}, "
            "model cache {cache}/",
            seed=3,
            threads=1,
            device="cpu",
            cache=".cache",
        ).startswith("fmtutor 已就绪：随机种子 3")
        assert i18n.tr("a message nobody translated") == "a message nobody translated"
        i18n.set_language("en")
        assert i18n.tr("{n} steps", n=4) == "4 steps"
    finally:
        i18n.set_language("en")
    with pytest.raises(ValueError, match="lang: expected one of 'en', 'zh', got 'fr'"):
        i18n.set_language("fr")


def test_a_message_translated_two_ways_is_refused(tmp_path, monkeypatch):
    (tmp_path / "zh").mkdir()
    (tmp_path / "zh" / "a.json").write_text('{"steps": "步数"}', encoding="utf-8")
    (tmp_path / "zh" / "b.json").write_text('{"steps": "步"}', encoding="utf-8")
    monkeypatch.setattr(i18n, "_LOCALE", tmp_path)
    i18n.catalogue.cache_clear()
    try:
        with pytest.raises(ValueError, match="translated two ways"):
            i18n.catalogue("zh")
    finally:
        monkeypatch.undo()
        i18n.catalogue.cache_clear()


def cjk_font_path() -> str | None:
    from matplotlib import font_manager

    from fmtutor.course import cjk_font

    name = cjk_font()
    if name is None:
        return None
    return font_manager.findfont(
        font_manager.FontProperties(family=name), fallback_to_default=False
    )


@pytest.fixture
def font_path():
    path = cjk_font_path()
    if path is None:
        if os.environ.get("FMTUTOR_REQUIRE_CJK_FONT"):
            pytest.fail("no CJK font: install one, e.g. apt install fonts-wqy-microhei")
        pytest.skip("no font with Chinese glyphs on this system (apt install fonts-wqy-microhei)")
    return path


def drawn_characters() -> set[str]:
    """Every Chinese character the course can draw: its catalogue and the zh chapters' code."""
    chars = set("".join(CJK.findall("".join(i18n.catalogue("zh").values()))))
    for nb in sorted((ROOT / "notebooks" / "zh").glob("*.ipynb")):
        for cell in json.loads(nb.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "code":
                chars.update(CJK.findall("".join(cell["source"])))
    return chars


def test_the_cjk_font_has_a_glyph_for_every_character_the_course_draws(font_path):
    from matplotlib.ft2font import FT2Font

    font = FT2Font(font_path)
    chars = drawn_characters()
    assert len(chars) > 5
    missing = sorted(c for c in chars if font.get_char_index(ord(c)) == 0)
    assert not missing, f"{font_path} has no glyph for {''.join(missing)}"
    assert (
        font.get_char_index(0x10FFFD) == 0
    )  # the check can fail: a private-use code point has none


def render(text: str) -> np.ndarray:
    """``text`` drawn by matplotlib (Agg) after ``setup(lang='zh')``, as a grey image."""
    import matplotlib.pyplot as plt

    from fmtutor.course import setup

    with matplotlib.rc_context():
        setup(lang="zh", verbose=False)
        fig = plt.figure(figsize=(3, 0.6), dpi=80)
        fig.text(0.05, 0.3, text, fontsize=16)
        fig.canvas.draw()
        img = np.asarray(fig.canvas.buffer_rgba())[..., :3].mean(axis=2)
        plt.close(fig)
    setup(verbose=False)
    return img


def test_chinese_labels_render_as_glyphs_not_boxes(font_path):
    # Characters without a glyph are all drawn as the same box (or nothing): distinct characters must
    # give distinct pictures, and differ from a code point no font has.
    a, b, box = render("速度场"), render("概率路径"), render("\U0010fffd\U0010fffd\U0010fffd")
    assert (a < 128).sum() > 50 and (b < 128).sum() > 50
    assert not np.array_equal(a, b)
    assert not np.array_equal(a, box)
