"""tools/publish.py: every chapter becomes a multi-slide reveal.js deck; a deck and a site page work offline in
headless Chromium (equations typeset by the local MathJax, no console error, no request leaving the machine,
the animation plays without a kernel). The Chinese edition (notebooks/zh/) is published the same way: every zh
chapter yields a deck, and the browser checks run on one zh chapter too (its deck and its site page, in
``_slides/zh``/``_site/zh``-like folders whose index is in Chinese and links the English one and the
glossary, ``<html lang="zh-CN">``).

The browser checks are marked ``ui`` (run them with ``pytest -m ui``): they need Debian's Chromium, the
``ui`` extra (Playwright) and the npm assets (``python tools/publish.py assets``); without them they are
skipped, except under CI (``CI`` set), where they fail. Screenshots go to test-artifacts/publish/.
"""

import copy
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
ZH_CHAPTERS = sorted((NOTEBOOKS / "zh").glob("*.ipynb"))  # the Chinese edition (tools/translate.py)
needs_chapters = pytest.mark.skipif(not CHAPTERS, reason="no chapter in notebooks/ yet")
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


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
@pytest.mark.parametrize(
    "path",
    CHAPTERS + ZH_CHAPTERS,
    ids=[p.stem for p in CHAPTERS] + [f"zh/{p.stem}" for p in ZH_CHAPTERS],
)
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


def _showcase(chapters: "list[Path]" = CHAPTERS) -> Path:
    """The first chapter with an animation (FramePlayer), else the first chapter."""
    for p in chapters:
        if "FramePlayer" in p.read_text(encoding="utf-8"):
            return p
    return chapters[0]


@pytest.fixture(scope="module", params=publish.LANGS)
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One chapter of an edition executed (cached as tools/publish.py caches it), exported as a deck and
    as a site with its index, in the edition's folders (zh: ``slides/zh``, ``site/zh``, assets shared)."""
    lang = request.param
    chapters = CHAPTERS if lang == "en" else ZH_CHAPTERS
    if not chapters:
        pytest.skip(f"no {lang} chapter in {NOTEBOOKS} yet")
    if not all((ROOT / "web" / "node_modules" / src).exists() for src, _, _ in publish.WEB_ASSETS):
        _missing("web/node_modules (run: python tools/publish.py assets)")
    modules = ROOT / "web" / "node_modules"
    folder = NOTEBOOKS if lang == "en" else NOTEBOOKS / lang
    chapter = publish.find_chapters(folder, only=_showcase(chapters).stem)[:1]
    nbs = publish.execute_edition(chapter, lang, ROOT, jobs=1)
    out = tmp_path_factory.mktemp(f"publish_{lang}")
    sub = "" if lang == "en" else lang
    static = publish.STATIC if lang == "en" else f"../{publish.STATIC}"
    other = None if lang == "en" else "../index.html"
    glossary = publish.build_glossary(out / "site")
    decks = publish.build_slides(chapter, out / "slides" / sub, nbs, modules, lang, static, other)
    index = publish.build_site(
        chapter,
        out / "site" / sub,
        nbs,
        modules,
        "notebooks" if lang == "en" else f"notebooks/{lang}",
        lang,
        static,
        other,
        "glossary.html" if lang == "en" else "../glossary.html",
    )
    return {
        "lang": lang,
        "shot": "" if lang == "en" else f"{lang}_",
        "chapter": chapter[0],
        "deck": decks[0],
        "index": index,
        "glossary": glossary,
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
    page.wait_for_function("() => document.body.dataset.typeset === 'yes'", timeout=60_000)
    total = page.locator(".reveal .slides > section").count()
    assert total >= 3
    stem = built["shot"] + built["chapter"].stem
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
    if built["lang"] == "zh":
        assert page.evaluate("document.documentElement.lang") == "zh-CN"
        assert len(CJK.findall(page.locator(".reveal .slides").inner_text())) > 100, (
            "the Chinese deck shows little Chinese"
        )
    t.check()


@pytest.mark.ui
def test_site_offline_in_chromium(built: dict, chromium) -> None:
    index = built["index"].read_text(encoding="utf-8")
    stem, shot = built["chapter"].stem, built["shot"]
    assert f"href='{stem}.html'" in index and f"thumbs/{stem}.png" in index, (
        "index must link the chapter with a figure"
    )
    if (
        built["lang"] == "zh"
    ):  # the Chinese index: in Chinese, linking the English one and the glossary
        assert "<html lang='zh-CN'>" in index and "流匹配" in index
        assert "href='../index.html'" in index and "href='../glossary.html'" in index
        assert '<html lang="zh-CN">' in built["page"].read_text(encoding="utf-8")
    else:
        assert "href='glossary.html'" in index
    assert "<table>" in built["glossary"].read_text(encoding="utf-8"), "the glossary has its table"
    html = built["page"].read_text(encoding="utf-8")
    assert "data:image/png;base64" in html, "the chapter page has no figure"
    t = Offline(chromium)
    page = t.page
    page.goto(built["index"].as_uri())
    page.wait_for_function(MATH_DONE, timeout=30_000)
    assert page.locator(f"img[src='thumbs/{stem}.png']").evaluate("img => img.naturalWidth") > 0
    page.screenshot(path=str(ARTIFACTS / f"{shot}site_index.png"))
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
    page.screenshot(path=str(ARTIFACTS / f"{shot}site_{stem}.png"))
    if built["lang"] == "zh":
        page.goto(built["glossary"].as_uri())
        assert "流匹配" in page.inner_text("body")
        page.screenshot(path=str(ARTIFACTS / "site_glossary.png"))
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


# ---------------------------------------------------------------- the projector deck (no browser)


def _png(w: int, h: int) -> str:
    """A base64 PNG header of a w x h image (enough for the deck's size estimate)."""
    import base64
    import struct
    import zlib

    raw = b"".join(b"\x00" + b"\xff" * (3 * w) for _ in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
    return base64.b64encode(png).decode()


def _figure_cell(code: str, kind: str = "-", tags=()) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(code, metadata={"slideshow": {"slide_type": kind}})
    if tags:
        cell.metadata["tags"] = list(tags)
    cell.outputs = [nbformat.v4.new_output("display_data", {"image/png": _png(800, 400)})]
    return cell


def _md(text: str, kind: str = "-") -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(text, metadata={"slideshow": {"slide_type": kind}})


def test_projector_shows_outputs_of_tagged_cells_and_every_figure() -> None:
    nb = nbformat.v4.new_notebook(
        cells=[
            _md("## Loss curve", "slide"),
            _figure_cell("fig_code_shown_here = 1"),
            _figure_cell("hidden_plot_code = 2", tags=["remove_input"]),
            _figure_cell("skipped_plot_code = 3", kind="skip"),
            nbformat.v4.new_code_cell("removed_cell_code = 4", metadata={"tags": ["remove_cell"]}),
        ]
    )
    deck = publish.export_slides(nb)
    assert "fig_code_shown_here" in deck
    assert "hidden_plot_code" not in deck and "removed_cell_code" not in deck
    assert "skipped_plot_code" not in deck
    shown = re.findall(r"<img[^>]*\bsrc=\"data:image/png;base64,", deck)
    assert len(shown) == 2, "two figures shown, the skipped one not"
    assert deck.count('alt="Figure for “Loss curve”') == 2, "figures carry alt text"
    assert "In&nbsp;[" not in deck and "In [" not in deck, "no prompts on a projector"
    assert 'navigationMode: "linear"' in deck and "width: 1280, height: 720" in deck


def test_projector_cuts_long_slides_into_pages_that_keep_everything() -> None:
    paras = [f"Paragraph number {i} " + "word " * 60 for i in range(14)]
    code = "\n".join(f"line_{i} = {i}  # a line of code" for i in range(60))
    nb = nbformat.v4.new_notebook(
        cells=[
            _md("## A long slide\n\n" + "\n\n".join(paras), "slide"),
            nbformat.v4.new_markdown_cell(
                "Say this about the long slide.", metadata={"slideshow": {"slide_type": "notes"}}
            ),
            nbformat.v4.new_code_cell(code),
            _md("## Short", "slide"),
        ]
    )
    out = publish.for_projector(nb)
    starts = [i for i, c in enumerate(out.cells) if publish._slide_type(c) in ("slide", "subslide")]
    assert len(starts) >= 5, "14 paragraphs and 60 code lines cannot share one 720 px slide"
    pages = [out.cells[a:b] for a, b in zip(starts, starts[1:] + [len(out.cells)], strict=True)]
    state: dict = {}
    for page in pages:
        height = 0.0
        for c in page:
            if c.cell_type == "markdown" and publish._slide_type(c) != "notes":
                height += sum(publish._md_block_height(b) for b in publish._md_blocks(c.source))
            elif c.cell_type == "code":
                height += publish._code_height(c.source) + sum(
                    publish._output_height(o, state) for o in c.outputs
                )
        assert height <= publish.PAGE_HEIGHT + 1, f"a page of {height:.0f} px"
    text = "\n".join(c.source for c in out.cells if c.cell_type == "markdown")
    positions = [text.index(f"Paragraph number {i} ") for i in range(14)]
    assert positions == sorted(positions), "every paragraph kept, in order"
    lines = "\n".join(c.source for c in out.cells if c.cell_type == "code").splitlines()
    assert lines == code.splitlines(), "every code line kept, in order"
    long_pages = pages[:-1]
    assert all(any(publish._slide_type(c) == "notes" for c in p) for p in long_pages), (
        "the slide's notes follow it onto every page"
    )
    assert sum("(continued)" in c.source for c in out.cells) == len(long_pages) - 1
    assert len({c.get("id") for c in out.cells}) == len(out.cells), "cell ids stay unique"
    deck = publish.export_slides(nb)
    assert deck.count("<section") >= 6


def test_kernel_only_controls_are_disabled_and_marked() -> None:
    def model(name: str, **state) -> dict:
        return {"model_name": name, "model_module": "@jupyter-widgets/controls", "state": state}

    state = {
        "box": model("VBoxModel", children=["IPY_MODEL_img", "IPY_MODEL_slider"]),
        "img": model("ImageModel", format="png"),
        "slider": model("FloatSliderModel", value=0.5),
        "play": model("PlayModel", value=0),
        "frame": model("IntSliderModel", value=0),
        "link": model(
            "LinkModel", source=["IPY_MODEL_play", "value"], target=["IPY_MODEL_frame", "value"]
        ),
        "player": model("HBoxModel", children=["IPY_MODEL_play", "IPY_MODEL_frame"]),
    }
    view = "application/vnd.jupyter.widget-view+json"
    cells = [nbformat.v4.new_code_cell("live.widget"), nbformat.v4.new_code_cell("player")]
    for cell, mid in zip(cells, ["box", "player"], strict=True):
        cell.outputs = [nbformat.v4.new_output("display_data", {view: {"model_id": mid}})]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": state}}
    site = publish.for_site(nb)
    st = site.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert st["slider"]["state"]["disabled"] is True
    assert not st["frame"]["state"].get("disabled") and not st["play"]["state"].get("disabled")
    assert len(site.cells[0].outputs) == 2 and "running kernel" in str(site.cells[0].outputs[1])
    assert len(site.cells[1].outputs) == 1, "the Play animation works without a kernel: no note"
    assert "disabled" not in state["slider"]["state"], "the executed notebook is left unchanged"


def test_index_summary_joins_continued_items_and_stops_before_prerequisites() -> None:
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell(
                "**What you will learn**\n- first item that goes on\n  over two lines;\n"
                "- a *smooth* map;\n\n**What you need**: chapter 1\n- not a goal"
            )
        ]
    )
    assert publish._summary(nb).splitlines() == [
        "first item that goes on over two lines;",
        "a *smooth* map;",
    ]
    assert publish._md_inline("a *smooth* map, $x^*$ and $y^*$") == (
        "a <em>smooth</em> map, $x^*$ and $y^*$"
    )


def test_slides_index_tells_the_keys() -> None:
    for lang, words in (("en", "every slide"), ("zh", "所有幻灯片")):
        intro = publish.TEXT[lang]["slides_intro"]
        assert "Space" in intro and words in intro and "Arrow keys move" not in intro


def _zh(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb.metadata["fmtutor"] = {"lang": "zh", "translated_from": "../00_a.ipynb"}
    return nb


def test_a_chinese_chapter_is_published_in_chinese() -> None:
    """Deck and page of a zh chapter: <html lang="zh-CN">, Chinese fixed text, alt texts and kernel notes."""
    cells = [
        _md("## 损失曲线", "slide"),
        _figure_cell("x = 1"),
        _md("**讲者备注。** 指着曲线。\n\n- *提问：* 为什么下降？", "notes"),
    ]
    en = nbformat.v4.new_notebook(cells=copy.deepcopy(cells))
    deck = publish.export_slides(_zh(nbformat.v4.new_notebook(cells=cells)))
    en_deck = publish.export_slides(en)
    assert '<html lang="zh-CN">' in deck and '<html lang="en">' in en_deck
    assert 'alt="“损失曲线”的图：' in deck
    assert "讲者备注。" in deck and 'class="notes"' in deck, "the zh notes reach the speaker view"
    nav = "<nav class='fm-nav'><a href='index.html'>目录</a></nav>"
    page = publish._export_page(
        _zh(nbformat.v4.new_notebook(cells=cells)), nav, "notebooks/zh/00_a.ipynb"
    )
    assert '<html lang="zh-CN">' in page and "本章的静态副本" in page
    assert "<code>notebooks/zh/00_a.ipynb</code>" in page and "A static copy" not in page


def test_chinese_text_is_estimated_wider_than_latin() -> None:
    """A line of Chinese wraps sooner than a line of as many Latin letters (each character is one em)."""
    latin, chinese = "a" * 120, "流" * 120
    assert publish._text_lines(latin) == 2
    assert publish._text_lines(chinese) >= 3
    assert publish._code_height("流" * 100) > publish._code_height("a" * 100)
    assert publish._width("abc", 0.56) == 3, "Latin text is measured as before"


def test_chinese_long_slides_continue_in_chinese() -> None:
    body = "\n\n".join(f"第 {i} 段：" + "流匹配把噪声搬运成数据。" * 12 for i in range(12))
    nb = _zh(nbformat.v4.new_notebook(cells=[_md("## 很长的一页", "slide"), _md(body)]))
    cells = publish.for_projector(nb).cells
    heads = [c.source for c in cells if c.cell_type == "markdown" and "很长的一页" in c.source]
    assert len(heads) >= 3, "twelve long Chinese paragraphs need several pages"
    assert all("（续）" in h for h in heads[1:]) and "(continued)" not in "".join(heads)


def test_chinese_summary_and_indexes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The zh index: Chinese title and intro, the chapter's 本章目标 items, links to English and the glossary;
    the English index links the zh one only when asked (else it is as it always was)."""
    monkeypatch.setattr(publish, "copy_web_assets", lambda modules, out: Path(out) / "_static")
    goals = "**本章目标**\n- 向量场；\n- 散度。\n\n**预备知识**：第 0 章"
    nb = _zh(nbformat.v4.new_notebook(cells=[_md("# 1 · 向量场\n\n" + goals)]))
    assert publish._summary(nb).splitlines() == ["向量场；", "散度。"]
    path = tmp_path / "nb" / "zh" / "01_a.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(nb, path)
    chapters = publish.find_chapters(path.parent)
    assert chapters[0].title == "1 · 向量场"
    (tmp_path / "out" / "_static").mkdir(parents=True)
    (tmp_path / "out" / "_static" / "require.js").write_text("")
    index = publish.build_site(
        chapters,
        tmp_path / "out" / "zh",
        {"01_a": nb},
        tmp_path,
        "notebooks/zh",
        "zh",
        "../_static",
        "../index.html",
        "../glossary.html",
    ).read_text(encoding="utf-8")
    assert index.startswith("<!DOCTYPE html>\n<html lang='zh-CN'>")
    assert "流匹配：交互式课程" in index and "<li>向量场；</li>" in index
    assert "href='../index.html' hreflang='en' lang='en'>English</a>" in index
    assert "href='../glossary.html'" in index and "../_static/mathjax/MathJax.js" in index
    page = (tmp_path / "out" / "zh" / "01_a.html").read_text(encoding="utf-8")
    assert 'href="../01_a.html" hreflang="en"' in page, "a zh page links its English chapter"
    slides = publish.build_slides(
        chapters,
        tmp_path / "slides" / "zh",
        {"01_a": nb},
        tmp_path,
        "zh",
        "../_static",
        "../index.html",
    )
    sindex = (slides[0].parent / "index.html").read_text(encoding="utf-8")
    assert "流匹配课程：幻灯片" in sindex and "href='../index.html'" in sindex
    en_nb = nbformat.v4.new_notebook(
        cells=[_md("# 1 · Fields\n\n**What you will learn**\n- fields")]
    )
    en_path = tmp_path / "nb" / "01_a.ipynb"
    nbformat.write(en_nb, en_path)
    en = publish.find_chapters(en_path.parent)
    plain = publish.build_slides(en, tmp_path / "en1", {"01_a": en_nb}, tmp_path)
    plain = (plain[0].parent / "index.html").read_text(encoding="utf-8")
    assert "<html lang='en'>" in plain and "fm-langs" not in plain
    linked = publish.build_slides(
        en, tmp_path / "en2", {"01_a": en_nb}, tmp_path, "en", publish.STATIC, "zh/index.html"
    )
    linked = (linked[0].parent / "index.html").read_text(encoding="utf-8")
    assert "href='zh/index.html' hreflang='zh-CN' lang='zh-CN'>中文版</a>" in linked
    assert (
        linked.replace(linked[linked.index("<p class='fm-langs'>") : linked.index("</p>") + 4], "")
        == plain
    )


def test_editions_and_the_glossary_page(tmp_path: Path) -> None:
    (tmp_path / "zh").mkdir()
    for p in (tmp_path / "00_a.ipynb", tmp_path / "01_b.ipynb", tmp_path / "zh" / "01_b.ipynb"):
        nbformat.write(nbformat.v4.new_notebook(cells=[_md("# T")]), p)
    found = publish.editions(tmp_path)
    assert [c.stem for c in found["en"]] == ["00_a", "01_b"] and [c.stem for c in found["zh"]] == [
        "01_b"
    ]
    assert "zh" not in publish.editions(tmp_path, only="00"), "a chapter without a zh edition: none"
    md = tmp_path / "G.md"
    md.write_text(
        "# Glossary · 术语表\n\n| English | 中文 |\n|---|---|\n| flow | 流 |\n", encoding="utf-8"
    )
    page = publish.build_glossary(tmp_path / "site", md).read_text(encoding="utf-8")
    assert "<td lang='zh-CN'>流</td>" in page and "href='zh/index.html'" in page
    assert "zh/index.html" not in publish.build_glossary(tmp_path / "s2", md, None).read_text(
        encoding="utf-8"
    )
