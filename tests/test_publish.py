"""tools/publish.py: every chapter becomes a multi-slide reveal.js deck; a deck and a site page work offline in
headless Chromium (equations typeset by the local MathJax, no console error, no request leaving the machine,
the animation plays without a kernel).

The browser checks are marked ``ui`` (run them with ``pytest -m ui``): they need Debian's Chromium, the
``ui`` extra (Playwright) and the npm assets (``python tools/publish.py assets``); without them they are
skipped, except under CI (``CI`` set), where they fail. Screenshots go to test-artifacts/publish/.
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
# tools/publish.py is a build script beside the package, not part of it. It is imported by its own name
# from tools/ (on sys.path, which the worker processes of execute_all inherit, so they find it too).
if str(ROOT / "tools") not in sys.path:
    sys.path.insert(0, str(ROOT / "tools"))
publish = importlib.import_module("publish")
NOTEBOOKS = Path(os.environ.get("FMTUTOR_NOTEBOOKS", ROOT / "notebooks"))
ARTIFACTS = ROOT / "test-artifacts" / "publish"
CHROMIUM = os.environ.get("FMTUTOR_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHAPTERS = sorted(NOTEBOOKS.glob("*.ipynb"))
needs_chapters = pytest.mark.skipif(not CHAPTERS, reason="no chapter in notebooks/ yet")


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing (CI must install it)")
    pytest.skip(f"{what} is missing")


def _top_level_sections(deck: str) -> int:
    """Number of top-level reveal.js slides (a slide with subslides is one <section> holding others)."""
    depth = count = 0
    for tag in re.finditer(r"<(/?)section\b", deck):
        if tag.group(1):
            depth -= 1
        else:
            count += depth == 0
            depth += 1
    assert depth == 0, "unbalanced <section> tags"
    return count


def test_find_chapters_titles_and_filter(tmp_path: Path) -> None:
    for stem, title in [("01_b", "Second"), ("00_a", "First")]:
        nb = nbformat.v4.new_notebook(
            cells=[nbformat.v4.new_markdown_cell(f"intro\n# {title}\ntext")]
        )
        nbformat.write(nb, tmp_path / f"{stem}.ipynb")
    found = publish.find_chapters(tmp_path)
    assert [(c.stem, c.title) for c in found] == [("00_a", "First"), ("01_b", "Second")]
    assert [c.stem for c in publish.find_chapters(tmp_path, only="01")] == ["01_b"]
    with pytest.raises(FileNotFoundError, match="notebooks_dir"):
        publish.find_chapters(tmp_path, only="99")


def test_publish_is_a_tool_outside_the_package() -> None:
    assert Path(publish.__file__).resolve() == ROOT / "tools" / "publish.py"
    assert not (ROOT / "fmtutor" / "publish.py").exists()
    assert (publish.package_dir() / "course" / "__init__.py").exists()


def test_executed_copies_are_keyed_on_the_whole_package(tmp_path: Path) -> None:
    """The cache key sees the notebook and every fmtutor source, fmtutor/course/ included."""
    nb, pkg = tmp_path / "00_a.ipynb", tmp_path / "pkg"
    nb.write_text("{}")
    (pkg / "course").mkdir(parents=True)
    (pkg / "paths.py").write_text("A = 1\n")
    (pkg / "course" / "ch00.py").write_text("B = 1\n")
    key = publish._source_key(nb, pkg)
    assert publish._source_key(nb, pkg) == key
    (pkg / "course" / "ch00.py").write_text("B = 2\n")
    changed = publish._source_key(nb, pkg)
    assert changed != key, "a change in fmtutor/course/ must invalidate the executed copies"
    (pkg / "course" / "ch00.py").rename(pkg / "ch00.py")
    assert publish._source_key(nb, pkg) != changed, "a moved module must invalidate them too"
    nb.write_text("{ }")
    assert publish._source_key(nb, pkg) not in (key, changed)


def test_deck_uses_only_local_assets() -> None:
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell(
                "# T\n$x$", metadata={"slideshow": {"slide_type": "slide"}}
            )
        ]
    )
    deck = publish.export_slides(nb)
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)""", deck) + re.findall(
        r"""["'](https?://[^"']+\.(?:js|css|mjs))""", deck
    )
    remote = [u for u in urls if re.match(r"(https?:)?//", u)]
    assert not remote, f"the deck loads from the network: {remote}"
    for asset in (
        "_static/reveal.js/dist/reveal.js",
        "_static/require.js",
        "_static/mathjax/MathJax.js",
    ):
        assert asset in deck


@needs_chapters
@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_every_chapter_yields_several_slides(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    deck = publish.export_slides(nb)
    slides = _top_level_sections(deck)
    assert slides >= 3, f"{path.name}: only {slides} slides; mark title/section cells as 'slide'"
    assert deck.count("<section") >= 4
    skipped = [
        c
        for c in nb.cells
        if c.metadata.get("slideshow", {}).get("slide_type") == "skip" and c.source.strip()
    ]
    for cell in skipped[:3]:  # 'skip' cells stay out of the deck
        first = cell.source.strip().splitlines()[0]
        if len(first) > 25 and sum(first in c.source for c in nb.cells) == 1:
            assert first not in deck, f"{path.name}: a 'skip' cell appears in the deck: {first!r}"


# ---------------------------------------------------------------- browser checks (one executed chapter)


def _showcase() -> Path:
    """The first chapter with an animation (FramePlayer), else the first chapter."""
    for p in CHAPTERS:
        if "FramePlayer" in p.read_text(encoding="utf-8"):
            return p
    return CHAPTERS[0]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One chapter executed (cached in .cache/executed), exported as a deck and as a site with its index."""
    if not CHAPTERS:
        pytest.skip("no chapter in notebooks/ yet")
    if not all((ROOT / "web" / "node_modules" / src).exists() for src, _, _ in publish.WEB_ASSETS):
        _missing("web/node_modules (run: python tools/publish.py assets)")
    modules = ROOT / "web" / "node_modules"
    chapter = publish.find_chapters(NOTEBOOKS, only=_showcase().stem)[:1]
    nbs = publish.execute_all(chapter, ROOT / ".cache" / "executed", jobs=1)
    out = tmp_path_factory.mktemp("publish")
    decks = publish.build_slides(chapter, out / "slides", nbs, modules)
    index = publish.build_site(chapter, out / "site", nbs, modules)
    return {
        "chapter": chapter[0],
        "deck": decks[0],
        "index": index,
        "page": index.parent / f"{chapter[0].stem}.html",
        "nb": nbs[chapter[0].stem],
    }


class Offline:
    """A Chromium page that fails every request not aimed at file:, data:, blob: or loopback, and logs errors."""

    def __init__(self, browser) -> None:
        self.external: list[str] = []
        self.errors: list[str] = []
        self.page = browser.new_page(viewport={"width": 1280, "height": 800})
        self.page.route("**/*", self._route)
        self.page.on(
            "console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}")
        )
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on(
            "requestfailed", lambda r: self.errors.append(f"request failed: {r.url} {r.failure}")
        )

    def _route(self, route) -> None:
        url = route.request.url
        if re.match(r"(file|data|blob|about):|https?://(127\.0\.0\.1|localhost)[:/]", url):
            route.continue_()
        else:
            self.external.append(url)
            route.abort()

    def check(self) -> None:
        assert not self.external, f"requests leaving the machine: {self.external}"
        assert not self.errors, f"browser errors: {self.errors}"


@pytest.fixture(scope="module")
def chromium(request: pytest.FixtureRequest):
    """pytest-playwright's session browser (Debian's Chromium, launched as tests/conftest.py says)."""
    try:
        import pytest_playwright  # noqa: F401
    except ImportError:
        _missing("playwright and pytest-playwright (pip install -e .[course,ui,publish])")
    if not Path(CHROMIUM).exists():
        _missing(f"Chromium at {CHROMIUM} (apt-get install -y chromium)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return request.getfixturevalue("browser")


MATH_DONE = (
    "() => window.MathJax && MathJax.Hub && MathJax.Hub.queue && MathJax.Hub.queue.pending === 0"
)


@pytest.mark.ui
def test_deck_offline_in_chromium(built: dict, chromium) -> None:
    t = Offline(chromium)
    page = t.page
    page.goto(built["deck"].as_uri())
    page.wait_for_selector(".reveal.ready", timeout=30_000)
    page.wait_for_function(MATH_DONE, timeout=30_000)
    total = page.locator(".reveal .slides > section").count()
    assert total >= 3
    stem = built["chapter"].stem
    page.screenshot(path=str(ARTIFACTS / f"{stem}_slide1.png"))
    shot = 1
    overflow = """() => [...document.querySelectorAll('.reveal .slides section.present .highlight pre')]
        .filter(p => p.scrollWidth > p.clientWidth + 1).map(p => p.textContent.slice(0, 60))"""
    cut = []
    for i in range(
        1, min(total, 40)
    ):  # walk every top-level slide: each one renders without errors
        cut += page.evaluate(overflow)
        page.keyboard.press("ArrowRight")
        page.wait_for_timeout(150)
        if (
            shot < 4
            and page.locator(
                ".reveal .slides section.present .MathJax_CHTML, "
                ".reveal .slides section.present img"
            ).count()
        ):
            shot += 1
            page.screenshot(path=str(ARTIFACTS / f"{stem}_slide{shot}.png"))
    assert not cut, f"code runs off the right edge of a slide (it should wrap): {cut}"
    page.wait_for_function(MATH_DONE, timeout=30_000)
    typeset = page.locator(".MathJax_CHTML").count()
    has_math = "$" in "".join(c.source for c in built["nb"].cells if c.cell_type == "markdown")
    if has_math:
        assert typeset > 0, "MathJax typeset no equation"
    assert page.locator(".MathJax_Error, .mjx-merror").count() == 0, "MathJax reported a TeX error"
    if "widgets" in built["nb"].metadata:
        assert page.locator(".jupyter-widgets").count() > 0, "saved widgets did not render"
    t.check()


@pytest.mark.ui
def test_site_offline_in_chromium(built: dict, chromium) -> None:
    index = built["index"].read_text(encoding="utf-8")
    stem = built["chapter"].stem
    assert f"href='{stem}.html'" in index and f"thumbs/{stem}.png" in index, (
        "index must link the chapter with a figure"
    )
    html = built["page"].read_text(encoding="utf-8")
    assert "data:image/png;base64" in html, "the chapter page has no figure"
    t = Offline(chromium)
    page = t.page
    page.goto(built["index"].as_uri())
    page.wait_for_function(MATH_DONE, timeout=30_000)
    assert page.locator(f"img[src='thumbs/{stem}.png']").evaluate("img => img.naturalWidth") > 0
    page.screenshot(path=str(ARTIFACTS / "site_index.png"))
    page.goto(built["page"].as_uri())
    page.wait_for_function(MATH_DONE, timeout=30_000)
    if "FramePlayer" in built["chapter"].path.read_text(
        encoding="utf-8"
    ):  # the animation plays with no kernel
        play = page.locator(".widget-play").first
        play.wait_for(timeout=30_000)
        readout = play.locator("xpath=..").locator(".widget-readout").first
        before = readout.inner_text()
        play.scroll_into_view_if_needed()
        play.locator("button").first.click()
        page.wait_for_function(
            "([el, b]) => el.innerText !== b",
            arg=[readout.element_handle(), before],
            timeout=10_000,
        )
        page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / f"site_{stem}.png"))
    t.check()


def test_for_deck_drops_only_continue_metadata() -> None:
    types = ["slide", "-", "fragment", None, "skip"]
    cells = [
        nbformat.v4.new_markdown_cell(
            str(i), metadata={"slideshow": {"slide_type": t}} if t else {}
        )
        for i, t in enumerate(types)
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    out = publish.for_deck(nb)
    assert [c.metadata.get("slideshow", {}).get("slide_type") for c in out.cells] == [
        "slide",
        None,
        "fragment",
        None,
        "skip",
    ]
    assert nb.cells[1].metadata["slideshow"]["slide_type"] == "-", (
        "the input notebook is left unchanged"
    )
    assert publish.export_slides(out).count("<section") == publish.export_slides(nb).count(
        "<section"
    )
