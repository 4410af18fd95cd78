"""The Chinese edition from one source: English notebooks + per-cell translations -> notebooks/zh/.

    python tools/translate.py status          # per chapter: translated, stale, missing cells
    python tools/translate.py todo 05         # add missing cells / flag stale ones in i18n/zh/05_*.json
    python tools/translate.py build           # write notebooks/zh/NN_*.ipynb for every translated chapter
    python tools/translate.py check           # what tests/test_translations.py checks, as a report
    python tools/translate.py glossary        # write GLOSSARY.md from i18n/glossary.tsv

A translation file ``i18n/zh/NN_name.json`` lists the chapter's markdown cells in order, each keyed by the
English cell's id, with the English text it translates (``en``), that text's fingerprint (``sha``) and the
translation (``zh``). When an English cell changes, its fingerprint no longer matches and the cell is
*stale*: ``todo`` copies the new English in and adds a ``review`` field with the old one; the tests fail
until a translator updates ``zh`` and deletes ``review``. Code cells are never translated: the zh notebook
carries the English notebook's code cells unchanged, except that the setup call becomes
``setup(lang="zh")`` (the one call that switches the course's messages and figure fonts to Chinese).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
I18N = ROOT / "i18n"
LANGS = ("zh",)
SETUP_EN = "setup("
#: the first ``setup(...)`` call of a chapter; its arguments (e.g. ``dpi=100``) are kept.
SETUP_CALL = re.compile(r"\bsetup\(([^()]*)\)")


def switch_setup(code: str, lang: str) -> str:
    """``code`` with its first ``setup(...)`` call given ``lang=...`` (other arguments kept)."""

    def add_lang(m: re.Match) -> str:
        args = m.group(1).strip()
        return f'setup({args + ", " if args else ""}lang="{lang}")'

    return SETUP_CALL.sub(add_lang, code, 1)


#: CJK ideographs and the full-width punctuation Chinese prose uses.
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
LATIN = re.compile(r"[A-Za-z]")
MATH = re.compile(r"\$\$.+?\$\$|(?<![\\$])\$(?!\$).+?(?<![\\$])\$", re.S)
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)
LINK_TARGET = re.compile(r"\]\([^)]*\)")
HTML = re.compile(r"<[^>]+>")
TITLE = re.compile(r"(?<![*\w])\*(?!\*)[^*\n]+?(?<!\*)\*(?![*\w])")
MIN_LETTERS = 24  # cells with fewer letters outside math and code are not held to the CJK share
MIN_CJK_SHARE = 0.5


def source(cell: dict) -> str:
    """A cell's source as one string."""
    src = cell["source"]
    return src if isinstance(src, str) else "".join(src)


def fingerprint(text: str) -> str:
    """The first 12 hex digits of the SHA-256 of ``text`` (the English a translation was made from)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def chapters() -> list[Path]:
    """The English chapters, in order."""
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def translation_path(chapter: Path, lang: str = "zh") -> Path:
    """Where ``chapter``'s translation into ``lang`` lives."""
    return I18N / lang / f"{chapter.stem}.json"


def load(path: Path) -> dict:
    """A JSON file."""
    return json.loads(path.read_text(encoding="utf-8"))


def dump(obj: dict, path: Path) -> None:
    """Write JSON the way the repository keeps it (indent 1, UTF-8, trailing newline)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def markdown_cells(nb: dict) -> list[dict]:
    """The cells a translation covers: every markdown cell (speaker notes included)."""
    return [c for c in nb["cells"] if c["cell_type"] == "markdown"]


def problems(chapter: Path, lang: str = "zh") -> list[str]:
    """What is wrong with ``chapter``'s translation: missing, stale, empty or unknown cells."""
    path = translation_path(chapter, lang)
    if not path.exists():
        return [f"{chapter.name}: no translation file {path.relative_to(ROOT)}"]
    entries = {e["id"]: e for e in load(path)["cells"]}
    out = []
    cells = markdown_cells(load(chapter))
    for cell in cells:
        cid, text = cell["id"], source(cell)
        entry = entries.get(cid)
        if entry is None:
            out.append(f"{chapter.name}: cell {cid} has no translation")
        elif entry["sha"] != fingerprint(text) or entry["en"] != text:
            out.append(
                f"{chapter.name}: cell {cid} is stale: its English changed since it was translated"
            )
        elif "review" in entry:
            out.append(f"{chapter.name}: cell {cid} is marked for review (English changed)")
        elif not entry["zh"].strip():
            out.append(f"{chapter.name}: cell {cid} has an empty translation")
    known = {c["id"] for c in cells}
    out += [
        f"{chapter.name}: translation of unknown cell {cid}" for cid in entries if cid not in known
    ]
    return out


def todo(chapter: Path, lang: str = "zh") -> int:
    """Bring the translation file in line with the chapter; returns how many cells need a translator."""
    path = translation_path(chapter, lang)
    old = {e["id"]: e for e in load(path)["cells"]} if path.exists() else {}
    cells, need = [], 0
    for cell in markdown_cells(load(chapter)):
        cid, text = cell["id"], source(cell)
        entry = old.get(cid)
        if entry is None:
            entry, need = {"id": cid, "sha": fingerprint(text), "en": text, "zh": ""}, need + 1
        elif entry["sha"] != fingerprint(text):
            was = entry["en"]
            entry = {"id": cid, "sha": fingerprint(text), "en": text, "zh": entry["zh"]}
            entry["review"] = was
            need += 1
        elif "review" in entry or not entry["zh"].strip():
            need += 1
        cells.append(entry)
    dump({"chapter": chapter.name, "lang": lang, "cells": cells}, path)
    return need


def build_notebook(chapter: Path, lang: str = "zh") -> dict:
    """The ``lang`` edition of ``chapter``: its markdown translated, its code the same but for setup."""
    wrong = problems(chapter, lang)
    if wrong:
        raise ValueError("cannot build the translation:\n  " + "\n  ".join(wrong))
    nb = copy.deepcopy(load(chapter))
    zh = {e["id"]: e["zh"] for e in load(translation_path(chapter, lang))["cells"]}
    switched = False
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":  # links to the solutions point one folder up
            cell["source"] = zh[cell["id"]].replace("](solutions/", "](../solutions/")
        elif cell["cell_type"] == "code" and not switched and SETUP_CALL.search(source(cell)):
            cell["source"] = switch_setup(source(cell), lang)
            switched = True
    if not switched:
        raise ValueError(f"{chapter.name}: no code cell calls {SETUP_EN}")
    nb["metadata"]["fmtutor"] = {"lang": lang, "translated_from": f"../{chapter.name}"}
    return nb


def notebook_text(nb: dict) -> str:
    """A notebook as the repository stores it."""
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def translated(lang: str = "zh") -> list[Path]:
    """The English chapters that have a translation file."""
    return [c for c in chapters() if translation_path(c, lang).exists()]


def build(lang: str = "zh") -> list[Path]:
    """Write ``notebooks/<lang>/`` for every chapter with a translation file; returns what was written."""
    written = []
    for chapter in translated(lang):
        out = NOTEBOOKS / lang / chapter.name
        out.parent.mkdir(exist_ok=True)
        out.write_text(notebook_text(build_notebook(chapter, lang)), encoding="utf-8")
        written.append(out)
    return written


def equations(text: str) -> list[str]:
    """The LaTeX of a markdown text: its ``$...$`` and ``$$...$$`` spans, sorted (order may differ)."""
    return sorted(m.group(0) for m in MATH.finditer(text))


def prose(text: str) -> str:
    """``text`` without equations, code, link targets and HTML tags: what a reader reads as words."""
    for pattern in (MATH, CODE, LINK_TARGET, HTML):
        text = pattern.sub(" ", text)
    return text


def counted_prose(text: str) -> str:
    """``prose(text)`` without italic spans that hold no Chinese: the titles of cited works, which a
    Chinese text keeps in their original language."""
    return TITLE.sub(lambda m: " " if not CJK.search(m.group(0)) else m.group(0), prose(text))


def cjk_share(text: str) -> tuple[float, int]:
    """The share of CJK characters among the letters of ``text``'s prose, and how many letters."""
    words = counted_prose(text)
    cjk, latin = len(CJK.findall(words)), len(LATIN.findall(words))
    total = cjk + latin
    return (cjk / total if total else 1.0), total


def load_glossary() -> list[dict]:
    """The glossary rows: ``en``, ``zh``, and ``avoid`` (renderings the zh chapters must not use)."""
    rows = []
    lines = (I18N / "glossary.tsv").read_text(encoding="utf-8").splitlines()
    for line in lines[1:]:
        if not line.strip():
            continue
        en, zh, avoid = (line.split("\t") + ["", ""])[:3]
        rows.append({"en": en, "zh": zh, "avoid": [a for a in avoid.split(",") if a.strip()]})
    return rows


def glossary_markdown() -> str:
    """GLOSSARY.md: the glossary in both languages."""
    head = [
        "# Glossary · 术语表",
        "",
        "One Chinese term for each English one, used the same way in every Chinese chapter (a test",
        "checks it). 每个英文术语只对应一个中文译法，中文各章统一使用（由测试检查）。",
        "Generated from `i18n/glossary.tsv` by `python tools/translate.py glossary`.",
        "",
        "| English | 中文 |",
        "|---|---|",
    ]
    return "\n".join(head + [f"| {r['en']} | {r['zh']} |" for r in load_glossary()]) + "\n"


def check(lang: str = "zh") -> list[str]:
    """Every problem the tests look for, as lines."""
    out = []
    for chapter in translated(lang):
        wrong = problems(chapter, lang)
        out += wrong
        if wrong:
            continue
        built = NOTEBOOKS / lang / chapter.name
        if not built.exists() or built.read_text(encoding="utf-8") != notebook_text(
            build_notebook(chapter, lang)
        ):
            out.append(
                f"notebooks/{lang}/{chapter.name} differs from what `translate.py build` writes"
            )
        for entry in load(translation_path(chapter, lang))["cells"]:
            if equations(entry["en"]) != equations(entry["zh"]):
                out.append(
                    f"{chapter.name}: cell {entry['id']}: the equations differ from the English"
                )
            share, letters = cjk_share(entry["zh"])
            if letters >= MIN_LETTERS and share < MIN_CJK_SHARE:
                out.append(f"{chapter.name}: cell {entry['id']}: only {share:.0%} Chinese")
            out += [f"{chapter.name}: cell {entry['id']}: {w}" for w in glossary_problems(entry)]
    return out


def glossary_problems(entry: dict) -> list[str]:
    """Where a translated cell renders a glossary term other than the glossary's way."""
    out = []
    en, zh = prose(entry["en"]), prose(entry["zh"])
    for row in load_glossary():
        if re.search(rf"\b{re.escape(row['en'])}", en, re.I) and row["zh"] not in zh:
            out.append(f"'{row['en']}' is not rendered as '{row['zh']}'")
        out += [
            f"'{bad}' used where the glossary says '{row['zh']}'"
            for bad in row["avoid"]
            if bad in zh
        ]
    return out


def main(argv: list[str]) -> int:
    """The command line (see the module docstring)."""
    what = argv[0] if argv else "status"
    if what == "status":
        for chapter in chapters():
            path = translation_path(chapter)
            n = len(markdown_cells(load(chapter)))
            bad = problems(chapter) if path.exists() else ["(none)"] * n
            print(f"{chapter.stem:32s} {n - len(bad):3d}/{n} cells translated")
        return 0
    if what == "todo":
        for key in argv[1:]:
            (chapter,) = [c for c in chapters() if c.name.startswith(key)]
            print(f"{chapter.name}: {todo(chapter)} cells need a translator")
        return 0
    if what == "build":
        for path in build():
            print(f"wrote {path.relative_to(ROOT)}")
        return 0
    if what == "check":
        lines = check()
        print("\n".join(lines) if lines else "translations: all in order")
        return 1 if lines else 0
    if what == "glossary":
        (ROOT / "GLOSSARY.md").write_text(glossary_markdown(), encoding="utf-8")
        print("wrote GLOSSARY.md")
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
