"""Every chapter in a real JupyterLab, driven by Chromium: run all cells, no error anywhere, a slider moved by
keyboard changes the figure it drives, Play animates, each trajectory slider (issue 12) dragged with the
mouse redraws and leaves no busy state behind, and a screenshot per chapter lands in test-artifacts/ui/.
On the first chapter, the lecturer's recipe (Simple Interface + Presentation Mode) is checked too.

The Chinese edition (notebooks/zh/, from tools/translate.py) is checked on a fixed pair of chapters
(ZH_CHAPTERS): run all, no error, a slider moves its figure, the rendered Markdown is Chinese and its
characters are drawn with real glyphs (each drawn on a canvas in the page's own font differs from the
others and from the missing-glyph box of U+10FFFD; that needs a CJK font: fonts-wqy-microhei).
Screenshots: test-artifacts/ui/zh_<chapter>*.png.

Chapters run ``FMTUTOR_UI_WORKERS`` at a time (default 2): while one test checks its chapter, the next chapter
is already executing in its own browser context and kernel.
"""

import os
import re
import time
from pathlib import Path

import pytest

pytest.importorskip("playwright", reason="UI tests need the ui extra: pip install -e .[course,ui]")
from playwright.sync_api import Browser, Page  # noqa: E402
from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = Path(os.environ.get("FMTUTOR_NOTEBOOKS", ROOT / "notebooks"))
ARTIFACTS = ROOT / "test-artifacts" / "ui"
WORKERS = max(1, int(os.environ.get("FMTUTOR_UI_WORKERS", "2")))

pytestmark = pytest.mark.ui

CHAPTERS = sorted(
    p.name for p in NOTEBOOKS.glob("*.ipynb") if os.environ.get("FMTUTOR_UI_ONLY", "") in p.stem
)
RUN_TIMEOUT_MS = 300_000  # one chapter, run-all, on a loaded 2-core machine
VIEWPORT = {"width": 1280, "height": 900}

# Helpers installed in every page: find the notebook panel of a path, run it, and collect its errors.
HELPERS = """
window.__fm = {
  panel(path) {
    const app = window.jupyterapp;
    if (!app) return null;
    for (const w of app.shell.widgets('main')) if (w.context && w.context.path === path) return w;
    return null;
  },
  kernelIdle(path) {
    const p = this.panel(path);
    const k = p && p.sessionContext.session && p.sessionContext.session.kernel;
    return !!(p && p.content.widgets.length && k && k.status === 'idle');
  },
  runAll(path) {
    const app = window.jupyterapp, p = this.panel(path);
    app.shell.activateById(p.id);
    window.__fm_result = undefined;
    app.commands.execute('notebook:run-all-cells').then(r => { window.__fm_result = r === undefined ? true : r; },
                                                         e => { window.__fm_result = 'failed: ' + e; });
  },
  problems(path) {
    const p = this.panel(path), out = [];
    const cells = p.content.model.cells;
    for (let i = 0; i < cells.length; i++) {
      const c = cells.get(i);
      if (c.type !== 'code') continue;
      if (c.executionCount === null && c.sharedModel.getSource().trim()) out.push(`cell ${i} did not run`);
      for (const o of c.outputs.toJSON()) {
        if (o.output_type === 'error') out.push(`cell ${i}: ${o.ename}: ${o.evalue}`);
      }
    }
    const text = p.content.node.innerText;
    for (const bad of ['Error displaying widget', 'error while redrawing', 'Traceback (most recent call last)',
                       'Model not found']) {
      if (text.includes(bad)) out.push(`page shows "${bad}"`);
    }
    return out;
  },
};
"""


class ChapterRunner:
    """Opens chapters in their own browser contexts and runs them, ``WORKERS`` at a time, in test order."""

    def __init__(self, browser: Browser, url: str, chapters: "list[str] | None" = None) -> None:
        self.browser, self.url = browser, url
        self.chapters = CHAPTERS if chapters is None else chapters
        self.pages: dict[str, Page] = {}
        self.started: dict[str, float] = {}
        self.console: dict[str, list[str]] = {}

    def start(self, name: str) -> None:
        if name in self.pages:
            return
        context = self.browser.new_context(viewport=VIEWPORT)
        context.add_init_script(HELPERS)
        page = context.new_page()
        page.set_default_timeout(60_000)
        self.console[name] = []
        page.on("pageerror", lambda e: self.console[name].append(f"pageerror: {e}"))
        path = f"notebooks/{name}"
        workspace = "ui-" + name[: -len(".ipynb")].replace("/", "-")
        page.goto(f"{self.url}/lab/workspaces/{workspace}/tree/{path}?reset")
        page.wait_for_function("p => window.__fm.kernelIdle(p)", arg=path, timeout=120_000)
        page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
        page.evaluate("p => window.__fm.runAll(p)", path)
        self.pages[name], self.started[name] = page, time.monotonic()

    def run(self, name: str) -> tuple[Page, float]:
        """Start this chapter (and the next ones, up to WORKERS in flight); wait until it has run; return its page."""
        i = self.chapters.index(name)
        for other in self.chapters[i : i + WORKERS]:
            self.start(other)
        page = self.pages[name]
        page.wait_for_function(
            "() => window.__fm_result !== undefined", timeout=RUN_TIMEOUT_MS, polling=500
        )
        return page, time.monotonic() - self.started[name]

    def close(self, name: str) -> None:
        page = self.pages.pop(name, None)
        if page is not None:
            try:  # free the kernel's memory for the chapters still to come
                page.evaluate(
                    "p => window.__fm.panel(p).sessionContext.shutdown()", f"notebooks/{name}"
                )
            except Exception:
                pass
            page.context.close()


@pytest.fixture(scope="module")
def runner(browser: Browser, jupyter_lab: str):
    r = ChapterRunner(browser, jupyter_lab)
    yield r
    for name in list(r.pages):
        r.close(name)


def _live_plots(page: Page):
    """Outputs holding a slider and an image but no Play button: the LivePlots."""
    return (
        page.locator(".jp-OutputArea-output")
        .filter(has=page.locator(".widget-slider"))
        .filter(has=page.locator("img.widget-image"))
        .filter(has_not=page.locator(".widget-play"))
    )


def _live_plot(page: Page):
    """The first LivePlot."""
    return _live_plots(page).first


def _wait_src_change(page: Page, img, before: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if img.get_attribute("src") != before:
            return True
        page.wait_for_timeout(200)
    return False


def _move_slider(page: Page, stem: str, path: "str | None" = None) -> None:
    """Move the first LivePlot's slider by keyboard until its figure changes; screenshot ``<stem>.png``."""
    out = _live_plot(page)
    assert out.count() == 1, (
        "no LivePlot (a slider driving a figure) found in the chapter's outputs"
    )
    out.scroll_into_view_if_needed()
    img = out.locator("img.widget-image").first
    handle = out.locator(".widget-slider .noUi-handle").first
    before = img.get_attribute("src")
    for key in ("ArrowRight", "ArrowLeft", "ArrowLeft"):  # the slider may start at its maximum
        handle.focus()
        page.keyboard.press(key)
        if _wait_src_change(page, img, before, 45):
            break
    else:
        pytest.fail("moving the slider with the keyboard did not change the figure it drives")
    page.wait_for_function(
        "p => window.__fm.kernelIdle(p)", arg=path or f"notebooks/{stem}.ipynb", timeout=120_000
    )
    page.wait_for_timeout(300)
    out.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / f"{stem}.png"))


def _press_play(page: Page, stem: str) -> bool:
    """Press the first Play button; assert the linked slider advances. Returns False when the chapter has none."""
    play = page.locator(".widget-play").first
    if page.locator(".widget-play").count() == 0:
        return False
    box = play.locator("xpath=..")  # FramePlayer: HBox([Play, IntSlider])
    readout = box.locator(".widget-readout").first
    play.scroll_into_view_if_needed()
    before = readout.inner_text() if readout.count() else None
    play.locator("button").first.click()
    if before is not None:
        page.wait_for_function(
            "([el, b]) => el.innerText !== b",
            arg=[readout.element_handle(), before],
            timeout=10_000,
        )
    page.wait_for_timeout(400)
    page.screenshot(path=str(ARTIFACTS / f"{stem}_play.png"))
    return True


def _present_in_lab(page: Page, stem: str) -> None:
    """Lecturer mode (README): Simple Interface + Presentation Mode, no header, no status bar; widgets live."""
    path = f"notebooks/{stem}.ipynb"
    run = "([c, a]) => window.jupyterapp.commands.execute(c, a)"
    page.evaluate(run, ["application:set-mode", {"mode": "single-document"}])
    page.evaluate(run, ["application:toggle-presentation-mode", {}])
    # View -> Appearance: untick Show Header and Show Status Bar (the README names these menu items)
    labels = page.evaluate(
        "cs => cs.map(c => window.jupyterapp.commands.label(c))",
        ["application:toggle-header", "statusbar:toggle", "application:toggle-presentation-mode"],
    )
    assert labels == ["Show Header", "Show Status Bar", "Presentation Mode"], labels
    page.evaluate(run, ["application:toggle-header", {}])
    page.evaluate(run, ["statusbar:toggle", {}])
    try:
        assert page.evaluate("() => window.jupyterapp.shell.presentationMode"), (
            "presentation mode did not start"
        )
        page.wait_for_timeout(500)
        chrome = page.evaluate(
            """() => { const b = document.querySelector('.jp-NotebookPanel .jp-Notebook')
                         .getBoundingClientRect(); return [b.top, innerHeight - b.bottom]; }"""
        )
        assert chrome[0] <= 64 and chrome[1] <= 2, (
            f"presenting, the notebook starts {chrome[0]:.0f} px from the top and ends {chrome[1]:.0f}"
            " px above the bottom: only the menu and the notebook toolbar may remain"
        )
        out = _live_plot(page)
        out.scroll_into_view_if_needed()
        img = out.locator("img.widget-image").first
        handle = out.locator(".widget-slider .noUi-handle").first
        before = img.get_attribute("src")
        for key in ("ArrowLeft", "ArrowRight", "ArrowRight"):
            handle.focus()
            page.keyboard.press(key)
            if _wait_src_change(page, img, before, 45):
                break
        else:
            pytest.fail("in presentation mode, moving the slider did not change the figure")
        page.wait_for_function("p => window.__fm.kernelIdle(p)", arg=path, timeout=120_000)
        page.wait_for_timeout(300)
        out.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / f"{stem}_presenting.png"))
    finally:
        page.evaluate(run, ["statusbar:toggle", {}])
        page.evaluate(run, ["application:toggle-header", {}])
        page.evaluate(run, ["application:toggle-presentation-mode", {}])
        page.evaluate(run, ["application:set-mode", {"mode": "multiple-document"}])


# Issue 12's trajectory sliders, per chapter: (text under that LivePlot's figure, the slider's label,
# what that text says at the slider's value).
NEW_SLIDERS = {
    "02_flows_and_odes": [("the particles are at most", "t", "t = {}:")],
    "03_probability_paths": [("mean log p_t at the particles", "t", "t = {}:")],
    "06_midpoint_sampling": [("evaluations each", "NFE", "{} evaluations each")],
    "07_couplings_and_ot": [("minibatch OT with batches of B", "batch size", "B = {}:")],
    "08_likelihood": [("velocity evaluations), divergence", "solver steps", ", {} steps (")],
}

# A LivePlot has settled: its kernel idle, its busy class off and its busy sign empty.
SETTLED = """([p, el]) => window.__fm.kernelIdle(p) && !el.classList.contains('fmtutor-busy')
  && el.querySelector('.fmtutor-busy-sign').textContent.trim() === ''"""

# Records on a LivePlot's element whether it has entered its busy state (class fmtutor-busy) since.
WATCH_BUSY = """el => {
  el.__fmBusySeen = 0;
  new MutationObserver(records => {
    for (const r of records) {
      if ((r.oldValue || '').includes('fmtutor-busy') || el.classList.contains('fmtutor-busy')) {
        el.__fmBusySeen++;
      }
    }
  }).observe(el, {attributes: true, attributeFilter: ['class'], attributeOldValue: true});
}"""


def _handle_at(slider) -> float:
    """Where the slider's handle is, as a fraction of its track."""
    box = slider.locator(".noUi-handle").first.bounding_box()
    track = slider.locator(".noUi-target").first.bounding_box()
    assert box and track, "the slider has no visible handle or track"
    return (box["x"] + box["width"] / 2 - track["x"]) / track["width"]


def _drag(page: Page, slider, fraction: float) -> None:
    """Drag the slider's handle with the mouse, in small moves, to ``fraction`` of its track."""
    slider.scroll_into_view_if_needed()
    handle = slider.locator(".noUi-handle").first
    track = slider.locator(".noUi-target").first.bounding_box()
    box = handle.bounding_box()
    assert box and track, "the slider has no visible handle or track"
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(track["x"] + fraction * track["width"], y, steps=8)
    page.mouse.up()


def _drag_new_sliders(page: Page, stem: str) -> None:
    """Drag each of the chapter's trajectory sliders with the mouse (to the far end, across the
    whole range, part of the way back): each time the readout and the picture change, the widget
    settles with its busy state gone (sign empty, class removed) and its text is the one for the
    value the slider shows; the busy state was entered while it redrew."""
    path = f"notebooks/{stem}.ipynb"
    for text, label, shows in NEW_SLIDERS.get(stem, []):
        live = page.locator(".fmtutor-live").filter(has_text=text)
        assert live.count() == 1, f"{stem}: no LivePlot showing {text!r}"
        live.scroll_into_view_if_needed()
        label_re = re.compile(rf"^\s*{re.escape(label)}\s*$")
        slider = live.locator(".widget-slider").filter(
            has=page.locator(".widget-label", has_text=label_re)
        )
        assert slider.count() == 1, f"{stem}: no slider labelled {label!r} in that LivePlot"
        img, readout = live.locator("img.widget-image").first, slider.locator(".widget-readout")
        page.evaluate(WATCH_BUSY, live.element_handle())
        # a drag to the far end, a jump across the whole range, a drag part of the way back
        far = 0.02 if _handle_at(slider) >= 0.5 else 0.98
        for fraction in (far, 1.0 - far, 0.6 if far < 0.5 else 0.4):
            before, shown = img.get_attribute("src"), readout.inner_text()
            pixels = img.screenshot()  # what the student sees (a new src may hold the same PNG)
            _drag(page, slider, fraction)
            assert readout.inner_text() != shown, f"{stem}: dragging {label!r} left its value"
            assert _wait_src_change(page, img, before, 60), (
                f"{stem}: dragging {label!r} to {readout.inner_text()} did not change the figure"
            )
            # the busy state never stays: once the kernel has drawn the last value the slider
            # sent (it sends the next only when the kernel is idle), sign and class are gone
            try:
                for _ in range(2):  # settled, and still settled a moment later
                    page.wait_for_function(
                        SETTLED, arg=[path, live.element_handle()], timeout=60_000, polling=200
                    )
                    page.wait_for_timeout(700)
            except PlaywrightTimeout:
                sign = live.locator(".fmtutor-busy-sign").inner_text().strip()
                pytest.fail(f"{stem}: {label!r}: the busy state stayed (sign {sign!r})")
            value = readout.inner_text().strip()
            assert shows.format(value) in live.inner_text(), (
                f"{stem}: the slider reads {value} but the figure's text is not for it"
            )
            assert img.screenshot() != pixels, (
                f"{stem}: dragging {label!r} to {value} left the picture as it was"
            )
            errors = live.locator(".widget-output").inner_text().strip()
            assert not errors, f"{stem}: {label!r}: {errors}"
        seen = page.evaluate("el => el.__fmBusySeen", live.element_handle())
        assert seen >= 3, f"{stem}: {label!r}: the busy state was never shown while redrawing"
        live.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / f"{stem}_{label.replace(' ', '_')}_dragged.png"))


@pytest.mark.skipif(not CHAPTERS, reason="no chapter in notebooks/")
@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_in_jupyterlab(runner: ChapterRunner, name: str) -> None:
    stem = Path(name).stem
    page, seconds = runner.run(name)
    try:
        result = page.evaluate("() => window.__fm_result")
        problems = page.evaluate("p => window.__fm.problems(p)", f"notebooks/{name}")
        assert not problems, f"{name}: " + "; ".join(problems)
        assert result is True, f"{name}: run-all returned {result!r}"
        print(f"{name}: run all in {seconds:.1f} s")
        _move_slider(page, stem)
        _press_play(page, stem)
        _drag_new_sliders(page, stem)
        if name == CHAPTERS[0]:  # presenting live is checked once
            _present_in_lab(page, stem)
        assert not runner.console[name], f"{name}: page errors: {runner.console[name]}"
    except BaseException:
        page.screenshot(path=str(ARTIFACTS / f"{stem}_FAILED.png"))
        raise
    finally:
        runner.close(name)


# ------------------------------------------------------------------------------ the Chinese edition
# a fixed pair, quick to run (no model to train), each with a slider-driven figure
ZH_CHAPTERS = ["01_vector_fields", "02_flows_and_odes"]
ZH_NAMES = [f"zh/{stem}.ipynb" for stem in ZH_CHAPTERS]

# What the student reads in the notebook's rendered Markdown: how many CJK characters, and whether they are
# drawn with real glyphs. Eight frequent ideographs of the page are drawn one by one on a canvas in the
# font of the paragraph they appear in (the page's own font stack and fallback); with no CJK font, each
# comes out as the same missing-glyph box as U+10FFFD (a code point no font has).
CJK_GLYPHS = """path => {
  const panel = window.__fm.panel(path), cjk = /[\u3400-\u4dbf\u4e00-\u9fff]/g;
  const hasCjk = t => /[\u3400-\u4dbf\u4e00-\u9fff]/.test(t);
  const md = [...panel.content.node.querySelectorAll('.jp-RenderedMarkdown')];
  const text = md.map(e => e.innerText).join('\\n'), found = text.match(cjk) || [];
  const counts = {};
  for (const ch of found) counts[ch] = (counts[ch] || 0) + 1;
  const chars = Object.keys(counts).sort((a, b) => counts[b] - counts[a]).slice(0, 8);
  const el = [...panel.content.node.querySelectorAll('.jp-RenderedMarkdown p, .jp-RenderedMarkdown li')]
    .find(e => hasCjk(e.textContent)) || md[0];
  const cs = getComputedStyle(el), font = `${cs.fontStyle} ${cs.fontWeight} 40px ${cs.fontFamily}`;
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = 64;
  const g = canvas.getContext('2d', {willReadFrequently: true});
  const draw = ch => {
    g.clearRect(0, 0, 64, 64); g.font = font; g.fillStyle = '#000'; g.textBaseline = 'top';
    g.fillText(ch, 4, 4);
    const d = g.getImageData(0, 0, 64, 64).data;
    let h = 0, ink = 0;
    for (let i = 3; i < d.length; i += 4) { h = (h * 31 + d[i]) | 0; ink += d[i] > 0; }
    return {key: `${h}:${ink}`, ink};
  };
  const tofu = draw('\\u{10FFFD}').key, drawn = chars.map(draw);
  return {
    count: found.length, chars: chars.join(''), font: cs.fontFamily,
    missing: chars.filter((ch, i) => drawn[i].key === tofu || drawn[i].ink === 0).join(''),
    distinct: new Set(drawn.map(d => d.key)).size,
  };
}"""


@pytest.fixture(scope="module")
def zh_runner(browser: Browser, jupyter_lab: str):
    r = ChapterRunner(browser, jupyter_lab, [n for n in ZH_NAMES if (NOTEBOOKS / n).exists()])
    yield r
    for name in list(r.pages):
        r.close(name)


@pytest.mark.parametrize("stem", ZH_CHAPTERS)
def test_chinese_chapter_in_jupyterlab(zh_runner: ChapterRunner, stem: str) -> None:
    name, shot = f"zh/{stem}.ipynb", f"zh_{stem}"
    if not (NOTEBOOKS / name).exists():
        if os.environ.get("CI"):
            pytest.fail(f"notebooks/{name} is missing (python tools/translate.py build)")
        pytest.skip(f"notebooks/{name} not built yet")
    path = f"notebooks/{name}"
    page, seconds = zh_runner.run(name)
    try:
        result = page.evaluate("() => window.__fm_result")
        problems = page.evaluate("p => window.__fm.problems(p)", path)
        assert not problems, f"{name}: " + "; ".join(problems)
        assert result is True, f"{name}: run-all returned {result!r}"
        print(f"{name}: run all in {seconds:.1f} s")
        page.evaluate(  # back to the chapter's title
            "p => window.__fm.panel(p).content.widgets[0].node.scrollIntoView()", path
        )
        page.wait_for_timeout(300)
        page.screenshot(path=str(ARTIFACTS / f"{shot}_top.png"))
        glyphs = page.evaluate(CJK_GLYPHS, path)
        print(f"{name}: {glyphs}")
        assert glyphs["count"] >= 200, (
            f"{name}: the rendered Markdown holds {glyphs['count']} Chinese characters: "
            "is it the Chinese edition?"
        )
        assert not glyphs["missing"] and glyphs["distinct"] == len(glyphs["chars"]), (
            f"{name}: Chinese characters drawn as missing-glyph boxes ({glyphs['missing'] or glyphs})"
            f" in the font {glyphs['font']!r}: install a CJK font (apt-get install fonts-wqy-microhei)"
        )
        _move_slider(page, shot, path)
        assert not zh_runner.console[name], f"{name}: page errors: {zh_runner.console[name]}"
    except BaseException:
        page.screenshot(path=str(ARTIFACTS / f"{shot}_FAILED.png"))
        raise
    finally:
        zh_runner.close(name)
