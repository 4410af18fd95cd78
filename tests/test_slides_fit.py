"""Every deck fits a projector: each slide of each chapter's reveal.js deck, walked with the Right key in
Chromium at 1280x720 and 1024x768, is no taller than the screen, shows its figures and display equations
whole (no equation wider than its box: long ones break lines), and at 1280x720 has body text of at least
18 px and code of at least 14 px. Right reaches every slide (linear navigation), and every figure of the
executed chapter is in its deck.

The Chinese decks (every chapter of notebooks/zh/) are held to the same: their wide characters take more
room, so this is where an estimate that errs short would show.

Marked ``ui`` (run with ``pytest -m ui tests/test_slides_fit.py``). The decks are built once per run from
the executed chapters (cached in .cache/executed and .cache/executed/zh, as tools/publish.py does);
``FMTUTOR_DECKS=folder`` checks decks built already (e.g. ``_slides/``), every ``*.slides.html`` in it and
in its ``zh/``. ``FMTUTOR_DECKS_LANG=en`` or ``zh`` builds one edition only, ``FMTUTOR_DECKS_ONLY=05`` the chapters whose
file name contains that text. Screenshots of failing slides
go to test-artifacts/slides/ (``zh_`` in front for the Chinese decks).
"""

import importlib
import os
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "tools") not in sys.path:
    sys.path.insert(0, str(ROOT / "tools"))
publish = importlib.import_module("publish")
NOTEBOOKS = Path(os.environ.get("FMTUTOR_NOTEBOOKS", ROOT / "notebooks"))
ARTIFACTS = ROOT / "test-artifacts" / "slides"
CHROMIUM = os.environ.get("FMTUTOR_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
VIEWPORTS = [(1280, 720), (1024, 768)]
MIN_TEXT_PX, MIN_CODE_PX = 18.0, 14.0

pytestmark = pytest.mark.ui

# One slide, measured in the page: overflow, figures and equations outside the screen, clipped equations,
# text under the size floors (font size times reveal.js's scale; sub/superscripts and MathJax excluded).
MEASURE = """([minText, minCode]) => {
  const vw = innerWidth, vh = innerHeight, scale = Reveal.getScale(), s = Reveal.getCurrentSlide();
  const r = s.getBoundingClientRect(), bad = [], small = [];
  const bottom = r.top + s.scrollHeight * scale;
  if (r.top < -1 || bottom > vh + 1) bad.push(`content ${Math.round(bottom - r.top)} px tall on a ${vh} px screen`);
  if (s.scrollWidth > s.clientWidth + 2) bad.push(`content ${s.scrollWidth} px wide in ${s.clientWidth}`);
  const inside = b => b.width > 0 && b.height > 0 && b.left >= -1 && b.top >= -1 && b.right <= vw + 1 && b.bottom <= vh + 1;
  const figures = [...s.querySelectorAll('img, canvas')].filter(e => !e.closest('aside.notes'));
  for (const f of figures) {
    const b = f.getBoundingClientRect();
    if (!inside(b)) bad.push(`figure at (${Math.round(b.left)}, ${Math.round(b.top)}) ${Math.round(b.width)}x${Math.round(b.height)} not on screen`);
  }
  for (const d of s.querySelectorAll('.MJXc-display')) {
    const m = d.querySelector('.mjx-math'), db = d.getBoundingClientRect(), mb = m ? m.getBoundingClientRect() : db;
    const tex = (d.nextElementSibling && d.nextElementSibling.textContent || d.textContent).slice(0, 50);
    if (!inside(db)) bad.push(`equation off screen: ${tex}`);
    if (mb.width > db.width + 1 || mb.right > db.right + 1 || mb.left < db.left - 1) bad.push(`equation clipped: ${tex}`);
  }
  const walker = document.createTreeWalker(s, NodeFilter.SHOW_TEXT), seen = new Set();
  while (walker.nextNode()) {
    const e = walker.currentNode.parentElement;
    if (!walker.currentNode.textContent.trim() || seen.has(e)) continue;
    seen.add(e);
    if (e.closest('aside.notes, .MathJax_CHTML, .mjx-chtml, script, style, sub, sup')) continue;
    const cs = getComputedStyle(e);
    if (cs.visibility === 'hidden' || !e.getBoundingClientRect().width) continue;
    const px = parseFloat(cs.fontSize) * scale, code = !!e.closest('pre, code');
    if (px < (code ? minCode : minText) - 0.05)
      small.push(`${code ? 'code' : 'text'} ${px.toFixed(1)} px: ${walker.currentNode.textContent.trim().slice(0, 30)}`);
  }
  return {where: Reveal.getIndices(), bad, small, figures: figures.length};
}"""


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing (CI must install it)")
    pytest.skip(f"{what} is missing")


def figures_in_notebook(nb: nbformat.NotebookNode) -> int:
    """PNG figures among the outputs of an executed notebook (every cell, 'skip' ones included)."""
    return sum(
        "image/png" in o.get("data", {})
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    )


def figures_in_deck(deck_html: str) -> int:
    """PNG figures a deck shows (inline data: images)."""
    return len(re.findall(r"<img[^>]*\bsrc=\"data:image/png;base64,", deck_html))


@pytest.fixture(scope="module")
def decks(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """key -> (deck path, executed notebook or None); built from notebooks/ (and notebooks/zh/) unless
    FMTUTOR_DECKS is set. Keys: the chapter's stem, ``zh/<stem>`` for a Chinese deck."""
    given = os.environ.get("FMTUTOR_DECKS")
    if given:
        found = sorted(Path(given).glob("*.slides.html")) + sorted(
            Path(given).glob("zh/*.slides.html")
        )
        if not found:
            pytest.fail(f"FMTUTOR_DECKS={given} holds no *.slides.html")
        return {p.relative_to(given).as_posix()[: -len(".slides.html")]: (p, None) for p in found}
    if not all((ROOT / "web" / "node_modules" / src).exists() for src, _, _ in publish.WEB_ASSETS):
        _missing("web/node_modules (run: python tools/publish.py assets)")
    out, decks = tmp_path_factory.mktemp("decks"), {}
    only = os.environ.get("FMTUTOR_DECKS_LANG", "")
    for lang, chapters in publish.editions(NOTEBOOKS, os.environ.get("FMTUTOR_DECKS_ONLY")).items():
        if only and lang != only:
            continue
        nbs = publish.execute_edition(chapters, lang, ROOT, jobs=min(2, os.cpu_count() or 1))
        sub, static = (out, "_static") if lang == "en" else (out / lang, "../_static")
        paths = publish.build_slides(
            chapters, sub, nbs, ROOT / "web" / "node_modules", lang, static
        )
        prefix = "" if lang == "en" else f"{lang}/"
        decks.update(
            {prefix + c.stem: (p, nbs[c.stem]) for c, p in zip(chapters, paths, strict=True)}
        )
    return decks


@pytest.fixture(scope="module")
def chromium(request: pytest.FixtureRequest):
    try:
        import pytest_playwright  # noqa: F401
    except ImportError:
        _missing("playwright and pytest-playwright (pip install -e .[ui])")
    if not Path(CHROMIUM).exists():
        _missing(f"Chromium at {CHROMIUM} (apt-get install -y chromium)")
    return request.getfixturevalue("browser")


def walk(browser, deck: Path, viewport: tuple[int, int]) -> dict:
    """Open a deck, press Right until the end, measure each slide on arrival; returns what was found."""
    w, h = viewport
    page = browser.new_page(viewport={"width": w, "height": h})
    try:
        page.goto(deck.as_uri())
        page.wait_for_function("() => document.body.dataset.typeset === 'yes'", timeout=90_000)
        total = page.evaluate("Reveal.getTotalSlides()")
        seen, problems, figures = set(), [], 0
        state = "() => { const i = Reveal.getIndices(); return [`${i.h}.${i.v || 0}`, " + (
            "Reveal.isLastSlide() && !Reveal.availableFragments().next]; }"
        )
        for _ in range(10 * total + 50):
            where, last = page.evaluate(state)
            if where not in seen:
                seen.add(where)
                r = page.evaluate(MEASURE, [MIN_TEXT_PX, MIN_CODE_PX])
                figures += r["figures"]
                found = r["bad"] + (r["small"] if viewport == VIEWPORTS[0] else [])
                if found:
                    problems.append(f"slide {where}: " + "; ".join(found[:4]))
                    ARTIFACTS.mkdir(parents=True, exist_ok=True)
                    lang = "" if deck.parent.name != "zh" else "zh_"
                    page.screenshot(path=str(ARTIFACTS / f"{lang}{deck.stem}_{w}x{h}_{where}.png"))
            if last:
                break
            page.keyboard.press("ArrowRight")
        return {"total": total, "seen": len(seen), "problems": problems, "figures": figures}
    finally:
        page.close()


CHAPTERS = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))


@pytest.mark.skipif(not CHAPTERS, reason="no chapter in notebooks/")
@pytest.mark.parametrize("viewport", VIEWPORTS, ids=[f"{w}x{h}" for w, h in VIEWPORTS])
def test_every_slide_fits(decks: dict, chromium, viewport: tuple[int, int]) -> None:
    """All decks (every *.slides.html built), every slide, at this screen size."""
    report, failures = [], []
    for stem, (deck, nb) in sorted(decks.items()):
        r = walk(chromium, deck, viewport)
        report.append(f"{stem}: {r['total']} slides, {len(r['problems'])} failing")
        if r["seen"] != r["total"]:
            failures.append(f"{stem}: Right reached {r['seen']} of {r['total']} slides")
        failures += [f"{stem} {p}" for p in r["problems"]]
        if nb is not None and viewport == VIEWPORTS[0]:
            in_nb = figures_in_notebook(nb)
            in_deck = figures_in_deck(deck.read_text(encoding="utf-8"))
            if in_deck < in_nb:
                failures.append(f"{stem}: {in_nb} figures in the chapter, {in_deck} in its deck")
    print("\n".join(report))
    assert not failures, f"{len(failures)} problems at {viewport}:\n" + "\n".join(failures[:60])
