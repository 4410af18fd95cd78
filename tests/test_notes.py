"""Speaker notes: every content slide of every chapter has its own notes cell, specific to that slide.

A slide starts at a cell whose ``slideshow.slide_type`` is ``slide`` or ``subslide`` and runs to the next
such cell. It is a *content* slide unless everything it shows is headings. Its notes are a markdown cell
with ``slide_type`` ``notes`` and the tag ``notes`` (nbconvert turns it into ``<aside class="notes">``,
reveal.js shows it in the speaker view, key S), whose text begins with ``**Notes.**``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
STARTS = ("slide", "subslide")
HIDDEN = ("skip", "notes")

# Words of 5+ letters that say nothing about a particular slide: English function words, LaTeX
# boilerplate and the vocabulary every note of the course uses.
STOP = set(
    """
    about above after again against along already although always among another anything around
    because before being below between beyond could doesn during either enough every everything first
    given having however itself later least might never other others often quite rather really second
    should since still their there these thing things think those though three through under until
    using which while whole without would where whether what when your yours shall shows shown
    slide slides notes chapter chapters question questions answer answers student students lecture
    room class screen point points value values number numbers print printed right below above cells
    start starts write written explain first before after
    mathcal mathbb mathrm operatorname dfrac tfrac qquad begin bmatrix pmatrix bigg boxed underbrace
    """.split()
)
GREEK = set(
    """alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta kappa lambda mu nu xi pi rho
    sigma tau phi varphi chi psi omega nabla""".split()
)


def _kind(cell: dict) -> str:
    return cell["metadata"].get("slideshow", {}).get("slide_type", "-")


def _src(cell: dict) -> str:
    return "".join(cell["source"])


def is_notes(cell: dict) -> bool:
    """A notes cell: markdown, slide_type ``notes``."""
    return cell["cell_type"] == "markdown" and _kind(cell) == "notes"


def split_slides(cells: list[dict]) -> list[list[int]]:
    """Cell indices of each slide (a slide or subslide start and the cells up to the next start)."""
    slides: list[list[int]] = []
    for i, cell in enumerate(cells):
        if _kind(cell) in STARTS or not slides:
            slides.append([])
        slides[-1].append(i)
    return slides


def _shows_content(cell: dict) -> bool:
    if _kind(cell) in HIDDEN or "remove_cell" in cell["metadata"].get("tags", []):
        return False
    if cell["cell_type"] == "code":
        return bool(_src(cell).strip())
    body = [ln for ln in _src(cell).splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return bool(body)


def content_slides(cells: list[dict]) -> list[list[int]]:
    """The slides that show more than headings (title-only and plumbing-only slides need no notes)."""
    return [s for s in split_slides(cells) if any(_shows_content(cells[i]) for i in s)]


def tokens(text: str) -> set[str]:
    """Specific tokens: words of 5+ letters (not stop words), identifiers, numbers, Greek letters."""
    out = set()
    for tok in re.findall(r"[^\W\d_][\w]*|\d+(?:\.\d+)?", text.lower()):
        if tok in GREEK or ("_" in tok and len(tok) > 2):
            out.add(tok)
        elif tok.isalpha() and len(tok) >= 5 and tok not in STOP:
            out.add(tok)
        elif (
            any(ch.isdigit() for ch in tok) and len(tok) >= 2
        ):  # numbers like 64, 0.25, but not 0 or 1
            out.add(tok)
        elif len(tok) == 1 and not tok.isascii():  # μ, σ, θ, ψ ...
            out.add(tok)
    return out


def _normalise(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower().replace("**notes.**", "")))


def _load(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _problems(cells: list[dict]) -> list[str]:
    """What is wrong with the notes of one chapter's cells (empty when all is well)."""
    bad = []
    for s in content_slides(cells):
        notes = [i for i in s if is_notes(cells[i])]
        head = _src(cells[s[0]]).strip().splitlines()[0][:50] if _src(cells[s[0]]).strip() else ""
        where = f"slide at cell {s[0]} ({head!r})"
        if len(notes) != 1:
            bad.append(f"{where}: {len(notes)} notes cells, want 1")
            continue
        note = cells[notes[0]]
        text = _src(note)
        if note["metadata"].get("tags") != ["notes"]:
            bad.append(
                f"{where}: notes cell has tags {note['metadata'].get('tags')}, want ['notes']"
            )
        if not text.startswith("**Notes.**"):
            bad.append(f"{where}: notes must begin with '**Notes.**'")
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if not 2 <= len(lines) <= 4:
            bad.append(f"{where}: notes have {len(lines)} lines, want 2 to 4")
        if notes[0] != s[-1]:
            bad.append(f"{where}: the notes cell is not the slide's last cell")
        slide_text = "\n".join(_src(cells[i]) for i in s if i != notes[0])
        if not tokens(text.replace("**Notes.**", "")) & tokens(slide_text):
            bad.append(f"{where}: the notes name nothing that is on the slide")
    on_content = {i for s in content_slides(cells) for i in s}
    stray = [i for i, c in enumerate(cells) if is_notes(c) and i not in on_content]
    bad += [f"notes cell {i} sits on a slide without content" for i in stray]
    return bad


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_every_content_slide_has_its_own_notes(path: Path) -> None:
    problems = _problems(_load(path))
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)


def duplicates(paths: list[Path]) -> list[str]:
    """Notes cells (in these chapters) whose normalised text repeats an earlier one."""
    seen: dict[str, str] = {}
    dupes = []
    for path in paths:
        for i, cell in enumerate(_load(path)):
            if is_notes(cell):
                key, where = _normalise(_src(cell)), f"{path.name} cell {i}"
                if key in seen:
                    dupes.append(f"{where} repeats {seen[key]}")
                seen.setdefault(key, where)
    return dupes


def test_no_two_notes_alike() -> None:
    dupes = duplicates(CHAPTERS)
    assert not dupes, "\n".join(dupes)


def test_checks_can_fail() -> None:
    """The checks above catch a missing, a misplaced and an unspecific note, and a duplicate."""
    start = {"slideshow": {"slide_type": "slide"}}
    md = lambda text, meta=None: {  # noqa: E731
        "cell_type": "markdown",
        "metadata": meta or {"slideshow": {"slide_type": "-"}},
        "source": [text],
    }
    note_meta = {"slideshow": {"slide_type": "notes"}, "tags": ["notes"]}
    good = [
        md("# Title only", start),
        md("## Divergence\n\nThe divergence of the rotation is zero.", start),
        md(
            "**Notes.** Point at the rotation's arrows.\n\n- *Ask:* where do they converge?",
            note_meta,
        ),
    ]
    assert not _problems(good)
    assert len(content_slides(good)) == 1, "a title-only slide needs no notes"
    missing = good[:2]
    assert any("0 notes cells" in p for p in _problems(missing))
    vague = good[:2] + [md("**Notes.** Say it slowly.\n\n- *Ask:* any doubts?", note_meta)]
    assert any("name nothing" in p for p in _problems(vague))
    misplaced = [good[0], good[1], good[2], md("A last line of the slide.")]
    assert any("not the slide's last cell" in p for p in _problems(misplaced))
    assert _normalise(_src(good[2])) == _normalise(
        "**Notes.**  point at THE rotation's arrows. - *Ask:* where do they converge?"
    )


def test_duplicate_check_can_fail(tmp_path: Path) -> None:
    """Two chapters that share a note (up to case and punctuation) are reported."""
    note = {
        "cell_type": "markdown",
        "metadata": {"slideshow": {"slide_type": "notes"}, "tags": ["notes"]},
        "source": ["**Notes.** Drag t to 0.5 and ask why the blobs merge."],
    }
    other = dict(note, source=["**Notes.** DRAG t to 0.5, and ask why the blobs merge!"])
    paths = []
    for name, cell in (("01_a.ipynb", note), ("02_b.ipynb", other)):
        path = tmp_path / name
        path.write_text(json.dumps({"cells": [cell]}), encoding="utf-8")
        paths.append(path)
    assert duplicates(paths[:1]) == []
    assert duplicates(paths) == ["02_b.ipynb cell 0 repeats 01_a.ipynb cell 0"]
