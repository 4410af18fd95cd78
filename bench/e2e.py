"""Issue 17: every LivePlot control timed end to end in JupyterLab + Chromium, against an echo widget.

A throwaway JupyterLab (``tests/ui/conftest.py``'s ``start_lab``: 127.0.0.1, no token, ``?reset``,
settings that hide the toasts) is driven by Debian's Chromium through Playwright. Each chapter
(``notebooks/*.ipynb``; ``FMTUTOR_E2E_ONLY=05,10`` for a subset) is opened and run (run all cells), one
at a time; the kernel is then asked (``gc``, as ``bench/chapters.py``'s PROBE does) for every
``LivePlot`` and tags its container and each control with a DOM class. For every control shown in the
page, a key is pressed (ArrowRight/ArrowLeft on a slider's handle; a dropdown's next option is chosen
as with the mouse, a toggle button or checkbox clicked) ``PRESSES`` times, a slider after one End/Home
from the chapter's own value (a jump across its range): the time from the key press (a capture-phase
``keydown`` or ``pointerdown`` listener; for a dropdown, just before the choice) to the moment the
LivePlot's ``img`` has a new ``src`` (a ``MutationObserver``), in the page's own clock
(``performance.now()``); the next press waits until the kernel is idle. The floor: in a scratch
notebook, a slider whose observer only puts pre-encoded PNG bytes into an Image (no drawing), timed
the same way at the start and at the end of the run. A control meets the target when the median of
its presses is at most ``MARGIN_MS`` above the echo's median.
"""

__all__ = ["run_e2e", "e2e_md", "e2e_target", "MARGIN_MS", "PRESSES"]

import importlib.util
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from .common import stats

ROOT = Path(__file__).resolve().parent.parent
#: Key presses (or clicks) per control; a slider gets one jump (End/Home) on top.
PRESSES = 5
#: Presses of the echo widget, at the start and again at the end of the run.
ECHO_PRESSES = 10
#: The target: a control's median at most this many ms above the echo's median.
MARGIN_MS = 100.0
#: A press that shows no new image within this many seconds counts as a miss.
PRESS_TIMEOUT_S = 30.0
RUN_TIMEOUT_MS = 300_000  # one chapter, run-all, on a loaded 2-core machine
VIEWPORT = {"width": 1280, "height": 900}
CHROMIUM = os.environ.get("FMTUTOR_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run"]
ECHO_NOTEBOOK = "e2e_echo.ipynb"

# Installed in every page: the notebook panel, kernel status, run all, code run in the kernel (its
# output returned, never shown in a cell), and the timing of one press.
PAGE_JS = """
window.__e2e = {
  panel(path) {
    const app = window.jupyterapp;
    if (!app) return null;
    for (const w of app.shell.widgets('main')) if (w.context && w.context.path === path) return w;
    return null;
  },
  kernel(path) {
    const p = this.panel(path);
    return p && p.sessionContext.session && p.sessionContext.session.kernel;
  },
  kernelIdle(path) {
    const p = this.panel(path), k = this.kernel(path);
    return !!(p && p.content.widgets.length && k && k.status === 'idle');
  },
  runAll(path) {
    const app = window.jupyterapp, p = this.panel(path);
    app.shell.activateById(p.id);
    window.__e2e_result = undefined;
    app.commands.execute('notebook:run-all-cells').then(
      r => { window.__e2e_result = r === undefined ? true : r; },
      e => { window.__e2e_result = 'failed: ' + e; });
  },
  async exec(path, code) {
    const f = this.kernel(path).requestExecute({code, store_history: false}, true);
    let out = '', err = null;
    f.onIOPub = m => {
      const t = m.header.msg_type;
      if (t === 'stream') out += m.content.text;
      if (t === 'error') err = m.content.ename + ': ' + m.content.evalue;
    };
    await f.done;
    return {out, err};
  },
  rec: null, armed: false, obs: null,
  watch(sel) {
    if (this.obs) this.obs.disconnect();
    this.rec = null;
    const root = document.querySelector(sel);
    if (!root) return false;
    this.obs = new MutationObserver(ms => {
      const now = performance.now(), r = this.rec;
      for (const m of ms) {
        if (m.target.tagName !== 'IMG' || !r || r.img !== null) continue;
        r.img = now;
        const img = m.target;
        img.decode().then(() => { r.decoded = performance.now(); }, () => { r.decoded = -1; });
      }
    });
    this.obs.observe(root, {attributes: true, attributeFilter: ['src'], subtree: true});
    return true;
  },
  arm() {
    this.rec = {pre: performance.now(), key: null, img: null, decoded: null};
    this.armed = true;
  },
};
for (const type of ['keydown', 'pointerdown']) {
  window.addEventListener(type, () => {
    const e2e = window.__e2e;
    if (e2e.armed && e2e.rec && e2e.rec.key === null) { e2e.rec.key = performance.now(); }
    e2e.armed = false;
  }, true);
}
"""

# Run in a chapter's kernel after its cells: every LivePlot and its controls, tagged with DOM classes.
LIST_CODE = r"""
def __fm_e2e_list():
    import gc, json
    try:
        from fmtutor.course.widgets import LivePlot
    except Exception:
        return []
    ns, out = globals(), []
    for i, lp in enumerate(o for o in gc.get_objects() if isinstance(o, LivePlot)):
        names = [n for n, v in list(ns.items())
                 if not n.startswith("_") and (v is lp or getattr(v, "live", None) is lp)]
        lp.widget.add_class(f"fme2e-{i}")
        controls = []
        for j, (name, c) in enumerate(lp.controls.items()):
            if hasattr(c, "add_class"):
                c.add_class(f"fme2e-{i}-{j}")
            controls.append({"j": j, "name": name, "type": type(c).__name__,
                             "continuous": getattr(c, "continuous_update", None)})
        out.append({"i": i, "names": names, "draw": getattr(lp.draw_fn, "__qualname__", "?"),
                    "controls": controls})
    return out
print("@@E2E" + __import__("json").dumps(__fm_e2e_list()))
del __fm_e2e_list
"""

# The echo: a slider whose observer only hands pre-encoded PNG bytes to an Image (no drawing).
ECHO_CODE = """\
import io

import ipywidgets as W
import numpy as np
from matplotlib.figure import Figure

from fmtutor.course.widgets import png_image, set_png


def _png(k):
    fig = Figure(figsize=(5, 4.5))  # LivePlot's default size and dpi
    rng = np.random.default_rng(k)
    fig.add_subplot().scatter(*rng.normal(size=(2, 500)), s=4)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    return buf.getvalue()


PNGS = [_png(k) for k in range(8)]  # encoded once, before any key press
image = png_image(PNGS[0])
slider = W.IntSlider(0, 0, 100, description="echo")
slider.observe(lambda ch: set_png(image, PNGS[ch["new"] % len(PNGS)]), names="value")
slider.add_class("fme2e-echo-0")
box = W.VBox([slider, image])
box.add_class("fme2e-echo")
print("@@PNG", int(np.median([len(p) for p in PNGS])))
box
"""


def _lab_helpers() -> Any:
    """tests/ui/conftest.py as a module: ``start_lab`` and ``stop_lab`` (one way to start JupyterLab)."""
    path = ROOT / "tests" / "ui" / "conftest.py"
    spec = importlib.util.spec_from_file_location("_fmtutor_ui_conftest", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _chapters() -> list[str]:
    names = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    only = [t.strip() for t in os.environ.get("FMTUTOR_E2E_ONLY", "").split(",") if t.strip()]
    return [n for n in names if not only or any(n.startswith(t) for t in only)]


def _write_echo(root: Path) -> None:
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": "echo",
                "metadata": {},
                "outputs": [],
                "source": ECHO_CODE,
            }
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (root / ECHO_NOTEBOOK).write_text(json.dumps(nb, indent=1) + "\n")


class _Chapter:
    """One notebook open in its own browser context: run it, list its LivePlots, press their controls."""

    def __init__(self, browser: Any, url: str, path: str) -> None:
        self.path = path
        self.context = browser.new_context(viewport=VIEWPORT)
        self.context.add_init_script(PAGE_JS)
        self.page = self.context.new_page()
        self.page.set_default_timeout(60_000)
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        workspace = "e2e-" + Path(path).stem
        self.page.goto(f"{url}/lab/workspaces/{workspace}/tree/{path}?reset")
        self.wait_idle(120)
        self.page.evaluate("() => window.jupyterapp.shell.collapseLeft()")

    def wait_idle(self, timeout_s: float = 60) -> None:
        self.page.wait_for_function(
            "p => window.__e2e.kernelIdle(p)", arg=self.path, timeout=timeout_s * 1e3, polling=50
        )

    def run_all(self) -> float:
        t0 = time.perf_counter()
        self.page.evaluate("p => window.__e2e.runAll(p)", self.path)
        self.page.wait_for_function(
            "() => window.__e2e_result !== undefined", timeout=RUN_TIMEOUT_MS, polling=250
        )
        self.wait_idle(120)
        return time.perf_counter() - t0

    def exec(self, code: str) -> str:
        got = self.page.evaluate("([p, c]) => window.__e2e.exec(p, c)", [self.path, code])
        if got["err"]:
            raise RuntimeError(f"kernel: {got['err']}")
        return got["out"]

    def close(self) -> None:
        try:  # free the kernel's memory for the chapters still to come
            self.page.evaluate("p => window.__e2e.panel(p).sessionContext.shutdown()", self.path)
        except Exception:
            pass
        self.context.close()

    # --- one press -------------------------------------------------------------------------------

    def _act(self, sel: str, kind: str, state: dict[str, int], jump: bool) -> "str | None":
        """Press the key (or click) that changes the control at ``sel``; returns what was done."""
        page = self.page
        if kind == "slider":
            handle = page.locator(f"{sel} .noUi-handle").first
            now, lo, hi = (
                float(handle.get_attribute(a) or "nan")
                for a in ("aria-valuenow", "aria-valuemin", "aria-valuemax")
            )
            if jump:
                key = "End" if now - lo <= hi - now else "Home"
            else:
                if (state["dir"] > 0 and now >= hi) or (state["dir"] < 0 and now <= lo):
                    state["dir"] = -state["dir"]
                key = "ArrowRight" if state["dir"] > 0 else "ArrowLeft"
            handle.focus()
            page.evaluate("() => window.__e2e.arm()")
            page.keyboard.press(key)
            return key
        if kind == "dropdown":
            # a choice made as with the mouse: ArrowDown on a focused <select> goes to JupyterLab
            # (it moves the notebook's cell selection and leaves the dropdown as it was)
            select = page.locator(f"{sel} select").first
            i, n = select.evaluate("el => [el.selectedIndex, el.options.length]")
            if (state["dir"] > 0 and i >= n - 1) or (state["dir"] < 0 and i <= 0):
                state["dir"] = -state["dir"]
            select.scroll_into_view_if_needed()
            page.evaluate("() => window.__e2e.arm()")
            select.select_option(index=i + state["dir"])
            return "select"
        if kind == "buttons":
            buttons = page.locator(f"{sel} button")
            n = buttons.count()
            active = buttons.evaluate_all(
                "bs => bs.findIndex(b => b.classList.contains('mod-active'))"
            )
            target = buttons.nth((active + 1) % n)
            target.scroll_into_view_if_needed()
            page.evaluate("() => window.__e2e.arm()")
            target.click()
            return "click"
        if kind in ("checkbox", "toggle"):
            target = page.locator(f"{sel} input[type=checkbox], {sel}.widget-toggle-button").first
            target.scroll_into_view_if_needed()
            page.evaluate("() => window.__e2e.arm()")
            target.click()
            return "click"
        return None

    def press(
        self, sel: str, kind: str, state: dict[str, int], jump: bool = False
    ) -> "dict[str, Any] | None":
        """One timed press: ms from the key (or pointer) down to the new ``src``, and to the image decoded.

        Returns None when no new image came within ``PRESS_TIMEOUT_S``.
        """
        key = self._act(sel, kind, state, jump)
        if key is None:
            return None
        try:
            self.page.wait_for_function(
                "() => window.__e2e.rec.img !== null", timeout=PRESS_TIMEOUT_S * 1e3, polling=10
            )
        except Exception:
            self.wait_idle(120)
            return None
        try:
            self.page.wait_for_function(
                "() => window.__e2e.rec.decoded !== null", timeout=10_000, polling=10
            )
        except Exception:  # not decoded (replaced by a newer picture): the src time still counts
            pass
        rec = self.page.evaluate("() => window.__e2e.rec")
        start = rec["key"] if rec["key"] is not None else rec["pre"]
        decoded = rec["decoded"] or -1
        self.wait_idle(120)
        self.page.wait_for_timeout(100)  # let the last messages of the redraw land
        return {
            "key": key,
            "ms": rec["img"] - start,
            "decoded_ms": decoded - start if decoded > 0 else None,
        }


_KINDS = {
    "IntSlider": "slider",
    "FloatSlider": "slider",
    "FloatLogSlider": "slider",
    "SelectionSlider": "slider",
    "Dropdown": "dropdown",
    "ToggleButtons": "buttons",
    "RadioButtons": "buttons",
    "Checkbox": "checkbox",
    "ToggleButton": "toggle",
}


def _measure(ch: _Chapter, plot_sel: str, sel: str, kind: str, presses: int) -> dict[str, Any]:
    """A slider's jump (End/Home), then ``presses`` presses of the control at ``sel``, seen on ``plot_sel``."""
    ch.page.locator(plot_sel).first.scroll_into_view_if_needed()
    if not ch.page.evaluate("s => window.__e2e.watch(s)", plot_sel):
        return {"error": "not in the page"}
    state = {"dir": 1}
    out: dict[str, Any] = {}
    if kind == "slider":  # first, from the chapter's own value: its far end (at an end, the two
        # ends can draw the same picture, e.g. an azimuth of -180 and of 180 degrees)
        got = ch.press(sel, kind, state, jump=True)
        out["jump"] = None if got is None else {"key": got["key"], "ms": got["ms"]}
    steps, decoded, misses, keys = [], [], 0, set()
    for _ in range(presses):
        got = ch.press(sel, kind, state)
        if got is None:
            misses += 1
            if misses >= 2 and not steps:
                break  # this control does not change the picture: do not wait for it again
            continue
        steps.append(got["ms"])
        keys.add(got["key"])
        if got["decoded_ms"] is not None:
            decoded.append(got["decoded_ms"])
    out.update(
        keys=sorted(keys),
        steps_ms=steps,
        misses=misses,
        step=stats(steps) if steps else None,
        decoded=stats(decoded) if decoded else None,
    )
    return out


def _echo(ch: _Chapter, presses: int) -> dict[str, Any]:
    got = _measure(ch, ".fme2e-echo", ".fme2e-echo-0", "slider", presses)
    return {"steps_ms": got["steps_ms"], "misses": got["misses"], "step": got["step"]}


def _versions(browser: Any) -> dict[str, str]:
    out = {"chromium": browser.version}
    for pkg in ("jupyterlab", "ipywidgets", "playwright"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:  # the course's environment has them
            out[pkg] = "?"
    return out


def run_e2e(log: Callable[[str], None], quick: bool = False) -> dict[str, Any]:
    """Key press to new image in JupyterLab + Chromium for every LivePlot control, and the echo floor.

    Args:
        log: progress lines. quick: one chapter (00, unless ``FMTUTOR_E2E_ONLY`` names others) and
            fewer presses.
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"skipped": "playwright is not installed (pip install -e .[course,ui])"}
    if not Path(CHROMIUM).exists():
        return {"skipped": f"no Chromium at {CHROMIUM} (apt-get install chromium)"}
    presses, echo_presses = (2, 5) if quick else (PRESSES, ECHO_PRESSES)
    chapters = _chapters()
    if quick and not os.environ.get("FMTUTOR_E2E_ONLY"):
        chapters = chapters[:1]
    lab = _lab_helpers()
    res: dict[str, Any] = {
        "load_start": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "presses": presses,
        "echo_presses": echo_presses,
        "margin_ms": MARGIN_MS,
        "press_timeout_s": PRESS_TIMEOUT_S,
        "only": os.environ.get("FMTUTOR_E2E_ONLY", ""),
        "chapters": [],
        "controls": [],
    }
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fmtutor-e2e-") as tmp:
        base = Path(tmp)
        proc, url = lab.start_lab(base, ROOT / "notebooks", base / "jupyterlab.log")
        _write_echo(base / "root")
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                res["versions"] = _versions(browser)
                log(
                    "  "
                    + ", ".join(f"{k} {v}" for k, v in res["versions"].items())
                    + f"; load {res['load_start']}"
                )
                echo = _Chapter(browser, url, ECHO_NOTEBOOK)
                echo.run_all()
                res["echo_png_bytes"] = int(
                    echo.exec("print(int(np.median([len(p) for p in PNGS])))")
                )
                res["echo_start"] = _echo(echo, echo_presses)
                log(f"  echo (start): {_fmt(res['echo_start']['step'])}")
                for name in chapters:
                    _chapter(browser, url, name, presses, res, log)
                res["echo_end"] = _echo(echo, echo_presses)
                log(f"  echo (end): {_fmt(res['echo_end']['step'])}")
                echo.close()
                browser.close()
        finally:
            lab.stop_lab(proc)
    steps = res["echo_start"]["steps_ms"] + res["echo_end"]["steps_ms"]
    res["echo"] = stats(steps) if steps else None
    res["load_end"] = [round(x, 2) for x in os.getloadavg()]
    res["wall_s"] = time.perf_counter() - t_start
    floor = res["echo"]["median"] if res["echo"] else float("nan")
    for c in res["controls"]:
        c["over_echo_ms"] = c["step"]["median"] - floor if c.get("step") else None
        c["met"] = bool(c.get("step") and not c["misses"] and c["over_echo_ms"] <= MARGIN_MS)
        jump = c.get("jump")
        c["jump_met"] = None if "jump" not in c else bool(jump and jump["ms"] - floor <= MARGIN_MS)
    res["met"] = bool(res["controls"]) and all(c["met"] for c in res["controls"])
    log(
        f"  {sum(c['met'] for c in res['controls'])} of {len(res['controls'])} controls within"
        f" {MARGIN_MS:.0f} ms of the echo ({floor:.0f} ms); {res['wall_s']:.0f} s;"
        f" load {res['load_end']}"
    )
    return res


def _fmt(s: "dict[str, float] | None") -> str:
    return "no image" if not s else f"median {s['median']:.0f} ms (max {s['max']:.0f})"


def _chapter(
    browser: Any, url: str, name: str, presses: int, res: dict[str, Any], log: Callable
) -> None:
    """Open, run and probe one chapter; appends to ``res['chapters']`` and ``res['controls']``."""
    row: dict[str, Any] = {"name": name, "load": [round(x, 2) for x in os.getloadavg()]}
    res["chapters"].append(row)
    t0 = time.perf_counter()
    ch = _Chapter(browser, url, f"notebooks/{name}")
    try:
        row["run_s"] = ch.run_all()
        out = ch.exec(LIST_CODE)
        plots = json.loads(out.split("@@E2E", 1)[1].splitlines()[0])
        ch.page.wait_for_timeout(500)  # the new classes reach the views
        row["plots"], row["shown"] = len(plots), 0
        for lp in plots:
            plot_sel = f".fme2e-{lp['i']}"
            if not ch.page.locator(plot_sel).count():
                continue  # built but not displayed (e.g. kept inside another object)
            row["shown"] += 1
            label = lp["names"][0] if lp["names"] else lp["draw"]
            for c in lp["controls"]:
                sel = f".fme2e-{lp['i']}-{c['j']}"
                entry = {
                    "chapter": name,
                    "widget": f"{label}.{c['name']}",
                    "type": c["type"],
                    "continuous": c["continuous"],
                }
                kind = _KINDS.get(c["type"])
                if kind is None or not ch.page.locator(sel).first.is_visible():
                    entry.update(skipped=f"{c['type']} not driven" if kind is None else "hidden")
                else:
                    entry.update(_measure(ch, plot_sel, sel, kind, presses))
                res["controls"].append(entry)
                jump = entry.get("jump")
                log(
                    f"  {name[:2]} {entry['widget']} ({c['type']}): "
                    + (entry.get("skipped") or entry.get("error") or _fmt(entry.get("step")))
                    + (f", jump {jump['ms']:.0f} ms ({jump['key']})" if jump else "")
                    + (f", {entry['misses']} without a new image" if entry.get("misses") else "")
                )
    except Exception as e:  # one chapter's failure is reported, the others still run
        row["error"] = f"{type(e).__name__}: {e}"[:300]
        log(f"  {name}: {row['error']}")
    finally:
        row["page_errors"] = ch.errors[:5]
        ch.close()
        row["wall_s"] = time.perf_counter() - t0


def e2e_md(res: dict[str, Any]) -> list[str]:
    """RESULTS.md section: per control, key press to new image, against the echo's round trip."""
    e = res.get("e2e")
    if not e:
        return []
    L = ["## 10. Key press to new image in JupyterLab + Chromium (issue 17)", ""]
    if e.get("skipped"):
        return L + [f"Not measured: {e['skipped']}.", ""]
    v, echo = e["versions"], e.get("echo")
    floor = echo["median"] if echo else float("nan")
    L += [
        f"*`bench/e2e.py`, {v['chromium'] and 'Chromium ' + v['chromium']}, JupyterLab"
        f" {v['jupyterlab']}, ipywidgets {v['ipywidgets']}, Playwright {v['playwright']};"
        f" {e['cpus']} cores, load averages (1, 5, 15 min) {e['load_start']} at the start,"
        f" {e['load_end']} at the end; {e['wall_s']:.0f} s in all"
        + (f"; chapters {e['only']} only" if e["only"] else "")
        + ".*",
        "",
        f"Each chapter is run (run all) in a fresh kernel, then each LivePlot control shown is pressed"
        f" {e['presses']} times (ArrowRight/ArrowLeft on a slider's handle, a click on a toggle button"
        " or checkbox; a dropdown's next option chosen as with the mouse, since ArrowDown on a focused"
        " dropdown goes to JupyterLab and moves the cell selection), a slider after one End/Home"
        " from the chapter's own value to its far end (a jump across its range). Time: from the"
        " keydown (pointerdown; for a dropdown, just before the choice) to the LivePlot's `img`"
        " having a new `src`, in the page's clock; each press after the kernel went idle. The echo:"
        " a slider whose observer only puts pre-encoded PNG bytes"
        f" ({e.get('echo_png_bytes', 0):,} bytes, the LivePlot's default size) into an Image, timed"
        f" the same way ({e['echo_presses']} presses at the start, {e['echo_presses']} at the end).",
        "",
        f"Echo round trip: start {_fmt(e['echo_start']['step'])}, end"
        f" {_fmt(e['echo_end']['step'])}; both: **{_fmt(echo)}**. Target: a control's median at most"
        f" {e['margin_ms']:.0f} ms above the echo's, i.e. <= {floor + e['margin_ms']:.0f} ms.",
        "",
        "| chapter | control | type | median ms | max ms | median − echo | jump ms (key) |"
        " image decoded (median ms) | <= echo + 100 |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for c in e["controls"]:
        s, j = c.get("step"), c.get("jump")
        if not s:
            why = c.get("skipped") or c.get("error") or "no new image"
            L.append(f"| {c['chapter'][:2]} | {c['widget']} | {c['type']} | {why} | | | | | no |")
            continue
        L.append(
            f"| {c['chapter'][:2]} | {c['widget']} | {c['type']} | {s['median']:.0f} |"
            f" {s['max']:.0f} | {c['over_echo_ms']:+.0f} |"
            + (
                f" {j['ms']:.0f} ({j['key']}) |"
                if j
                else (" no new image |" if "jump" in c else " |")
            )
            + (f" {c['decoded']['median']:.0f} |" if c.get("decoded") else " |")
            + f" {'yes' if c['met'] else '**no**'}"
            + (f" ({c['misses']} without a new image)" if c.get("misses") else "")
            + " |"
        )
    slow = [c for c in e["controls"] if not c["met"]]
    jumps = [c for c in e["controls"] if "jump" in c]
    L += [
        "",
        f"{len(e['controls']) - len(slow)} of {len(e['controls'])} controls within"
        f" {e['margin_ms']:.0f} ms of the echo at the median;"
        f" jumps: {sum(bool(c['jump_met']) for c in jumps)} of {len(jumps)} sliders."
        + (
            " Over: " + ", ".join(f"{c['chapter'][:2]} {c['widget']}" for c in slow) + "."
            if slow
            else ""
        ),
        "",
        "| chapter | run all (s) | LivePlots shown / alive | load at its start | problems |",
        "|---|---:|---:|---|---|",
    ]
    for r in e["chapters"]:
        probs = ([r["error"]] if r.get("error") else []) + r.get("page_errors", [])
        L.append(
            f"| {r['name']} | {r.get('run_s', float('nan')):.1f} | {r.get('shown', 0)} /"
            f" {r.get('plots', 0)} | {r['load']} | {'; '.join(probs) or 'none'} |"
        )
    return L + [""]


def e2e_target(res: dict[str, Any]) -> "tuple[str, str, bool] | None":
    """The 'Targets at a glance' row: every control <= MARGIN_MS above the echo round trip."""
    e = res.get("e2e")
    if not e or e.get("skipped") or not e.get("echo"):
        return None
    cs = e["controls"]
    meds = [c["step"]["median"] for c in cs if c.get("step")]
    slowest = max((c for c in cs if c.get("step")), key=lambda c: c["step"]["median"], default=None)
    return (
        f"every control <= {e['margin_ms']:.0f} ms above the echo round trip, key press to new"
        " image in Chromium",
        f"{sum(c['met'] for c in cs)} of {len(cs)} controls (median of {e['presses']} presses);"
        f" echo {e['echo']['median']:.0f} ms; control medians"
        + (f" {min(meds):.0f}–{max(meds):.0f} ms" if meds else " none")
        + (f" (slowest {slowest['chapter'][:2]} {slowest['widget']})" if slowest else "")
        + f"; load {e['load_start']} → {e['load_end']}",
        e["met"],
    )
