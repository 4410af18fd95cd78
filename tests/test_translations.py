"""The Chinese edition cannot drift: notebooks/zh/ is what tools/translate.py builds from the English.

Each translated cell records the English it translates (text and fingerprint); a changed English cell
makes its translation stale and these tests fail naming the cell. The zh notebooks carry the English
code cells unchanged (but for ``setup(lang="zh")``), the same equations, prose that is mostly Chinese,
and the glossary's one rendering of each term.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("translate", ROOT / "tools" / "translate.py")
translate = importlib.util.module_from_spec(spec)
sys.modules["translate"] = translate
spec.loader.exec_module(translate)

CHAPTERS = translate.chapters()
TRANSLATED = translate.translated("zh")


def test_every_chapter_has_a_chinese_edition():
    missing = [c.name for c in CHAPTERS if c not in TRANSLATED]
    assert not missing, f"chapters without i18n/zh/*.json: {missing}"
    built = sorted(p.name for p in (ROOT / "notebooks" / "zh").glob("*.ipynb"))
    assert built == [c.name for c in CHAPTERS], (
        "notebooks/zh/ holds other notebooks than the chapters"
    )


@pytest.mark.parametrize("chapter", TRANSLATED, ids=lambda p: p.stem[:2])
def test_translation_is_complete_and_current(chapter):
    wrong = translate.problems(chapter)
    assert not wrong, (
        "\n".join(wrong) + "\n(run: python tools/translate.py todo " + chapter.name[:2] + ")"
    )


@pytest.mark.parametrize("chapter", TRANSLATED, ids=lambda p: p.stem[:2])
def test_zh_notebook_is_what_the_build_writes(chapter):
    built = ROOT / "notebooks" / "zh" / chapter.name
    assert built.exists(), f"{built} missing: run python tools/translate.py build"
    expected = translate.notebook_text(translate.build_notebook(chapter))
    assert built.read_text(encoding="utf-8") == expected, (
        f"{built.relative_to(ROOT)} differs from what `python tools/translate.py build` writes"
    )


@pytest.mark.parametrize("chapter", TRANSLATED, ids=lambda p: p.stem[:2])
def test_code_cells_are_the_english_ones(chapter):
    en = json.loads(chapter.read_text(encoding="utf-8"))["cells"]
    zh = json.loads((ROOT / "notebooks" / "zh" / chapter.name).read_text(encoding="utf-8"))["cells"]
    assert [c["id"] for c in en] == [c["id"] for c in zh]
    switched = 0
    for a, b in zip(en, zh):
        assert a["cell_type"] == b["cell_type"]
        if a["cell_type"] == "code":
            sa, sb = translate.source(a), translate.source(b)
            if sa != sb:
                assert sb == translate.switch_setup(sa, "zh"), f"code cell {a['id']} differs"
                switched += 1
            assert a.get("metadata") == b.get("metadata"), f"code cell {a['id']}: metadata differ"
    assert switched == 1, "exactly one code cell (the setup) differs"


@pytest.mark.parametrize("chapter", TRANSLATED, ids=lambda p: p.stem[:2])
def test_equations_are_the_english_ones(chapter):
    for entry in translate.load(translate.translation_path(chapter))["cells"]:
        assert translate.equations(entry["en"]) == translate.equations(entry["zh"]), (
            f"{chapter.name}: cell {entry['id']}: the LaTeX differs between the languages"
        )


@pytest.mark.parametrize("chapter", TRANSLATED, ids=lambda p: p.stem[:2])
def test_prose_is_mostly_chinese(chapter):
    for entry in translate.load(translate.translation_path(chapter))["cells"]:
        share, letters = translate.cjk_share(entry["zh"])
        if letters >= translate.MIN_LETTERS:
            assert share >= translate.MIN_CJK_SHARE, (
                f"{chapter.name}: cell {entry['id']} is only {share:.0%} Chinese: {entry['zh'][:80]!r}"
            )


@pytest.mark.parametrize("chapter", TRANSLATED, ids=lambda p: p.stem[:2])
def test_glossary_terms_are_rendered_one_way(chapter):
    wrong = []
    for entry in translate.load(translate.translation_path(chapter))["cells"]:
        wrong += [f"cell {entry['id']}: {w}" for w in translate.glossary_problems(entry)]
    assert not wrong, f"{chapter.name}:\n" + "\n".join(wrong)


def test_glossary_page_is_current():
    rows = translate.load_glossary()
    assert len({r["en"].lower() for r in rows}) == len(rows), "an English term is listed twice"
    assert len({r["zh"] for r in rows}) == len(rows), "two English terms share one Chinese term"
    assert (ROOT / "GLOSSARY.md").read_text(encoding="utf-8") == translate.glossary_markdown(), (
        "GLOSSARY.md is stale: python tools/translate.py glossary"
    )


# The checks fail when they should -------------------------------------------------------------------


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """A copy of the first translated chapter and its translation, with translate.py pointed at it."""
    if not TRANSLATED:
        pytest.skip("no chapter translated yet")
    chapter = TRANSLATED[0]
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "i18n" / "zh").mkdir(parents=True)
    copy = tmp_path / "notebooks" / chapter.name
    copy.write_bytes(chapter.read_bytes())
    (tmp_path / "i18n" / "glossary.tsv").write_bytes((ROOT / "i18n" / "glossary.tsv").read_bytes())
    tr_copy = tmp_path / "i18n" / "zh" / f"{chapter.stem}.json"
    tr_copy.write_bytes(translate.translation_path(chapter).read_bytes())
    monkeypatch.setattr(translate, "NOTEBOOKS", tmp_path / "notebooks")
    monkeypatch.setattr(translate, "I18N", tmp_path / "i18n")
    return copy, tr_copy


def edit_json(path: Path, change) -> None:
    obj = json.loads(path.read_text(encoding="utf-8"))
    change(obj)
    path.write_text(json.dumps(obj, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def test_changing_one_english_sentence_names_the_stale_cell(sandbox):
    chapter, _ = sandbox
    assert translate.problems(chapter) == []
    nb = json.loads(chapter.read_text(encoding="utf-8"))
    cell = next(
        c for c in nb["cells"] if c["cell_type"] == "markdown" and len(translate.source(c)) > 80
    )

    def change(obj):
        target = next(c for c in obj["cells"] if c["id"] == cell["id"])
        target["source"] = translate.source(target).replace(" ", "  ", 1)

    edit_json(chapter, change)
    wrong = translate.problems(chapter)
    assert wrong == [
        f"{chapter.name}: cell {cell['id']} is stale: its English changed since it was translated"
    ]
    translate.todo(chapter)  # copies the new English in and flags the cell for review
    assert translate.problems(chapter) == [
        f"{chapter.name}: cell {cell['id']} is marked for review (English changed)"
    ]


def test_a_changed_equation_or_an_english_copy_fails(sandbox):
    chapter, tr_copy = sandbox
    entries = translate.load(tr_copy)["cells"]
    with_math = next(e for e in entries if translate.equations(e["en"]))
    long_prose = next(
        e for e in entries if translate.cjk_share(e["zh"])[1] >= 3 * translate.MIN_LETTERS
    )

    def change(obj):
        for e in obj["cells"]:
            if e["id"] == with_math["id"]:
                eq = translate.equations(e["zh"])[0]
                e["zh"] = e["zh"].replace(eq, eq.replace("$", "$\\,", 1), 1)
            if e["id"] == long_prose["id"]:
                e["zh"] = e["en"]

    edit_json(tr_copy, change)
    report = "\n".join(translate.check())
    assert f"cell {with_math['id']}: the equations differ" in report
    assert re.search(rf"cell {long_prose['id']}: only \d+% Chinese", report)
