"""Publish the course: offline reveal.js slide decks and a static HTML site built from notebooks/*.ipynb.

Command line (run from the repository root; needs the ``course`` and ``publish`` extras)::

    python tools/publish.py slides   # execute the chapters, write _slides/<chapter>.slides.html + index.html
    python tools/publish.py site     # execute the chapters, write _site/index.html + one page per chapter
    python tools/publish.py all      # both (each chapter is executed once; results are cached)
    python tools/publish.py assets   # only install the JavaScript assets (npm ci in web/)
    python tools/publish.py present  # _slides/live/*.ipynb: copies to present live with jupyterlab-deck

Every edition is published: the English chapters of notebooks/ and, for each chapter that has one, the
Chinese edition in notebooks/zh/ (built by tools/translate.py), whose decks and pages go to _slides/zh/ and
_site/zh/ with Chinese index pages; both indexes link to each other and to the glossary (GLOSSARY.md, as
_site/glossary.html). ``--lang en`` or ``--lang zh`` builds one edition; ``--only 05`` one chapter. Each
chapter is executed once per language (executed copies cached in .cache/executed/ and .cache/executed/zh/);
a zh chapter runs in notebooks/zh/ with the English chapters' model cache (FMTUTOR_CACHE=../.cache), so
the models trained for the English edition are loaded, not trained again.

A build tool, not part of the ``fmtutor`` package: the chapters never import it.

Everything the pages load (reveal.js, require.js, jQuery, MathJax 2, the ipywidgets HTML manager) is
installed from the npm registry at build time into ``web/node_modules`` (``npm ci`` from
``web/package-lock.json``) and copied next to the pages, so the output works from ``file://`` with no
network. Executed notebooks keep their widget state, so ``FramePlayer`` animations play in the browser
without a kernel; ``LivePlot`` figures show the state they were left in (recomputing needs a kernel).
"""

from __future__ import annotations

__all__ = [
    "Chapter",
    "find_chapters",
    "for_deck",
    "for_projector",
    "for_site",
    "ensure_web_assets",
    "copy_web_assets",
    "execute_notebook",
    "execute_all",
    "export_slides",
    "build_slides",
    "build_site",
    "build_present",
    "build_glossary",
    "editions",
    "execute_edition",
    "LANGS",
    "main",
]

import argparse
import base64
import concurrent.futures as cf
import copy
import fnmatch
import hashlib
import html
import importlib.util
import math
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from jinja2 import DictLoader

ROOT = Path(__file__).resolve().parent.parent
KERNEL = "python3"
STATIC = "_static"
MATHJAX_CONFIG = "TeX-AMS_CHTML-full,Safe"
#: The editions: English (notebooks/) and Chinese (notebooks/zh/, from tools/translate.py).
LANGS = ("en", "zh")
#: The value of ``<html lang>`` on each edition's pages.
HTML_LANG = {"en": "en", "zh": "zh-CN"}
#: Environment of the kernels that execute an edition's chapters (run in that edition's folder): the zh
#: chapters use the English chapters' model cache, one folder up, instead of training the models again.
EDITION_ENV = {"en": {}, "zh": {"FMTUTOR_CACHE": "../.cache"}}

# (path under node_modules, path under _static, which files of a folder); source maps are never copied.
WEB_ASSETS: list[tuple[str, str, str]] = [
    ("reveal.js/dist", "reveal.js/dist", "*"),
    ("reveal.js/plugin/notes", "reveal.js/plugin/notes", "*"),
    ("requirejs/require.js", "require.js", "*"),
    ("jquery/dist/jquery.min.js", "jquery.min.js", "*"),
    ("mathjax/MathJax.js", "mathjax/MathJax.js", "*"),
    ("mathjax/config/TeX-AMS_CHTML-full.js", "mathjax/config/TeX-AMS_CHTML-full.js", "*"),
    ("mathjax/config/Safe.js", "mathjax/config/Safe.js", "*"),
    ("mathjax/extensions", "mathjax/extensions", "*"),
    ("mathjax/jax/element", "mathjax/jax/element", "*"),
    ("mathjax/jax/input/TeX", "mathjax/jax/input/TeX", "*"),
    ("mathjax/jax/output/CommonHTML", "mathjax/jax/output/CommonHTML", "*"),
    ("mathjax/fonts/HTML-CSS/TeX/woff", "mathjax/fonts/HTML-CSS/TeX/woff", "*"),
    ("@jupyter-widgets/html-manager/dist/embed-amd.js", "html-manager/embed-amd.js", "*"),
    # The widget manager finds its icon fonts next to its require.js module ids (resolved against baseUrl,
    # which the templates set to _static/html-manager/): @jupyter-widgets/ and @jupyter-widgets/html-manager/dist/.
    ("@jupyter-widgets/html-manager/dist", "html-manager/@jupyter-widgets", "[0-9a-f]*.*"),
    (
        "@jupyter-widgets/html-manager/dist",
        "html-manager/@jupyter-widgets/html-manager/dist",
        "[0-9a-f]*.*",
    ),
]

# The stock templates import mermaid from a CDN; the course has no mermaid diagrams, so that block is dropped.
_TEMPLATES = {
    "fmtutor_slides.j2": """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{{ super() }}
<script>require.config({baseUrl: "{{ resources.fmtutor_static }}/html-manager/"});</script>
{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_css -%}<style>
/* a 1280 x 720 canvas for a projector: body text 20 px, code 16 px, no prompts; tools/publish.py cuts
   every slide into pages that fit (for_projector); nothing scrolls, nothing is shrunk to fit */
:root {--jp-content-font-size1: 20px; --jp-ui-font-size1: 20px; --jp-code-font-size: 16px;
       --jp-widgets-font-size: 18px; --jp-widgets-inline-height: 36px; --jp-widgets-inline-label-width: 120px}
.reveal {font-size: 20px}
.reveal .slides section {box-sizing: border-box; overflow: hidden}
.reveal .slides section:not(.stack) {padding: 20px 40px 0 40px}
.reveal .slides section.stack {padding: 0}
.reveal .jp-RenderedHTMLCommon {font-size: 20px; line-height: 1.5; padding-right: 0}
.reveal .jp-RenderedHTMLCommon p, .reveal .jp-RenderedHTMLCommon li {margin-bottom: .4em}
.reveal .jp-RenderedHTMLCommon h1 {font-size: 44px; text-transform: none; margin: 0 0 .3em}
.reveal .jp-RenderedHTMLCommon h2 {font-size: 34px; text-transform: none; margin: 0 0 .3em}
.reveal .jp-RenderedHTMLCommon h3 {font-size: 27px; text-transform: none; margin: 0 0 .3em}
.reveal h1 small, .reveal h2 small, .reveal h3 small {font-size: 20px; color: #666}
.reveal .highlight pre, .reveal .jp-OutputArea-output pre {white-space: pre-wrap; overflow-wrap: anywhere;
  font-size: 16px; line-height: 1.3; width: 100%}
.reveal .jp-OutputArea-output img {max-width: 100%; max-height: 500px; width: auto; height: auto; object-fit: contain}
.reveal img.widget-image {max-width: 100%; max-height: 420px; width: auto; height: auto; object-fit: contain}
.reveal .jp-Cell {padding: 2px 0}
.reveal .mjx-chtml.MJXc-display {margin: .4em 0}
.reveal .widget-readout, .reveal .widget-label, .reveal .widget-html-content {font-size: 18px}
</style>{%- endblock html_head_css -%}
{%- block html_head_js_mathjax -%}
<script type="text/x-mathjax-config">
// Typeset once reveal.js has laid every slide out (the script at the end starts it): long display
// equations then break at the width they really have, instead of running off the slide. Speaker notes
// stay raw TeX: the speaker view shows them without MathJax's styles (typeset, they show twice).
MathJax.Hub.Config({skipStartupTypeset: true,
  TeX: {equationNumbers: {autoNumber: "AMS", useLabelIds: true}},
  tex2jax: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']], displayMath: [['$$', '$$'], ['\\\\[', '\\\\]']],
            processEscapes: true, processEnvironments: true, ignoreClass: "tex2jax_ignore|notes"},
  displayAlign: 'center', messageStyle: 'none',
  CommonHTML: {linebreaks: {automatic: false, width: "container"}}});
</script>
<script src="{{ resources.mathjax_url }}"></script>
{%- endblock html_head_js_mathjax -%}
{% block data_png scoped %}
<div class="jp-RenderedImage jp-OutputArea-output {{ extra_class }}">
<img src="data:image/png;base64,{{ output.data['image/png'] | escape_html }}"
 alt="{{ ((output | get_metadata('alt', 'image/png')) or (cell | get_metadata('alt')) or 'a figure') | escape_html }}">
</div>
{%- endblock data_png %}
{% block footer_js %}
<script>
require({waitSeconds: 30},
  ["{{ resources.reveal.url_prefix }}/dist/reveal.js", "{{ resources.reveal.url_prefix }}/plugin/notes/notes.js"],
  function (Reveal, RevealNotes) {
    window.Reveal = Reveal;
    Reveal.initialize({
      controls: true, progress: true, history: true, hash: true, center: false,
      transition: "none", slideNumber: "c/t", plugins: [RevealNotes],
      width: {{ resources.reveal.width }}, height: {{ resources.reveal.height }}, margin: 0,
      navigationMode: "linear",      // Right, Space and Page Down walk every slide, sub-slides included
      viewDistance: 1000, mobileViewDistance: 1000   // every slide laid out: MathJax measures real widths
    }).then(function () {
      // typeset once at the real widths, then break the lines of the display equations wider than
      // their slide (only those: math in a narrow table column must not be broken at every symbol)
      MathJax.Hub.Queue(["Typeset", MathJax.Hub], function () {
        var wide = [].filter.call(document.querySelectorAll(".reveal .MJXc-display"), function (d) {
          var m = d.querySelector(".mjx-math");
          return m && m.getBoundingClientRect().width > d.getBoundingClientRect().width + 1;
        });
        MathJax.OutputJax.CommonHTML.config.linebreaks.automatic = true;
        wide.forEach(function (d) {
          var jax = MathJax.Hub.getJaxFor(d.querySelector(".MathJax_CHTML"));
          if (jax) MathJax.Hub.Queue(["Rerender", jax]);
        });
        MathJax.Hub.Queue(function () {
          MathJax.OutputJax.CommonHTML.config.linebreaks.automatic = false;
          Reveal.layout(); document.body.dataset.typeset = "yes";
        });
      });
    });
  });
</script>
{% endblock footer_js %}
""",
    "fmtutor_page.j2": """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{{ super() }}
<script>require.config({baseUrl: "{{ resources.fmtutor_static }}/html-manager/"});</script>
{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block extra_css -%}<style>
.fm-nav{display:flex;gap:1.5em;align-items:center;padding:.6em 1em;background:#f4f6fa;border-bottom:1px solid #d8dde6;
 font:15px system-ui,sans-serif}
.fm-nav a{text-decoration:none;color:#1f5fbf}.fm-nav .fm-title{flex:1;font-weight:600}
.fm-note{margin:.8em 1em;padding:.5em .8em;background:#fff8e1;border-left:4px solid #f0b400;font:14px system-ui,sans-serif}
</style>{%- endblock extra_css -%}
{%- block body_header -%}{{ super() }}{{ resources.fmtutor_nav }}
<div class="fm-note">{{ resources.fmtutor_note }}</div>
{%- endblock body_header -%}
{%- block body_footer -%}{{ resources.fmtutor_nav }}{{ super() }}{%- endblock body_footer -%}
{% block data_png scoped %}
<div class="jp-RenderedImage jp-OutputArea-output {{ extra_class }}">
<img src="data:image/png;base64,{{ output.data['image/png'] | escape_html }}"
 alt="{{ ((output | get_metadata('alt', 'image/png')) or (cell | get_metadata('alt')) or 'a figure') | escape_html }}">
</div>
{%- endblock data_png %}
""",
}


@dataclass(frozen=True)
class Chapter:
    """One notebook of the course: its path, file stem (e.g. ``03_paths``) and title (first ``#`` heading)."""

    path: Path
    stem: str
    title: str


def edition(nb: nbformat.NotebookNode) -> str:
    """The language of a chapter: ``metadata.fmtutor.lang`` (set by tools/translate.py), else English."""
    lang = nb.get("metadata", {}).get("fmtutor", {}).get("lang", "en")
    return lang if lang in LANGS else "en"


def _title(nb: nbformat.NotebookNode, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


def find_chapters(notebooks_dir: Path, only: "str | None" = None) -> list[Chapter]:
    """All ``*.ipynb`` in ``notebooks_dir`` sorted by name; ``only`` keeps stems containing that text.

    Raises:
        FileNotFoundError: when the folder holds no notebook (or none matches ``only``).
    """
    notebooks_dir = Path(notebooks_dir)
    paths = sorted(p for p in notebooks_dir.glob("*.ipynb") if not p.name.startswith("."))
    if only:
        paths = [p for p in paths if only in p.stem]
    if not paths:
        raise FileNotFoundError(
            f"notebooks_dir: no notebook found in {notebooks_dir}"
            + (f" matching {only!r}" if only else "")
        )
    return [Chapter(p, p.stem, _title(nbformat.read(p, as_version=4), p.stem)) for p in paths]


def ensure_web_assets(web_dir: Path) -> Path:
    """Install the JavaScript assets with ``npm ci`` unless ``web_dir/node_modules`` already has them; returns it."""
    web_dir = Path(web_dir)
    modules = web_dir / "node_modules"
    if all((modules / src).exists() for src, _, _ in WEB_ASSETS):
        return modules
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(
            "npm is needed once to install reveal.js, MathJax and the widget manager "
            "(apt-get install -y npm, or install Node.js)"
        )
    cmd = [
        npm,
        "ci" if (web_dir / "package-lock.json").exists() else "install",
        "--no-audit",
        "--no-fund",
        "--ignore-scripts",
    ]
    print(f"[publish] {' '.join(cmd)} in {web_dir}", flush=True)
    subprocess.run(cmd, cwd=web_dir, check=True)
    missing = [src for src, _, _ in WEB_ASSETS if not (modules / src).exists()]
    if missing:
        raise RuntimeError(f"npm finished but these assets are missing: {missing}")
    return modules


def copy_web_assets(modules: Path, out_dir: Path) -> Path:
    """Copy the assets into ``out_dir/_static`` (no source maps); returns that folder."""
    static = Path(out_dir) / STATIC
    for src, dst, pattern in WEB_ASSETS:
        s, d = Path(modules) / src, static / dst
        d.parent.mkdir(parents=True, exist_ok=True)
        if s.is_dir():
            for f in s.rglob("*"):
                if f.is_file() and fnmatch.fnmatch(f.name, pattern) and not f.name.endswith(".map"):
                    (d / f.relative_to(s)).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(f, d / f.relative_to(s))
        else:
            shutil.copy2(s, d)
    return static


def package_dir() -> Path:
    """The folder of the ``fmtutor`` the chapters import: the installed one, else this repository's."""
    spec = importlib.util.find_spec("fmtutor")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return ROOT / "fmtutor"


def _source_key(path: Path, package_dir: Path) -> str:
    """Hash of the notebook and of every fmtutor source (the math floor and fmtutor/course/ alike).

    Sources are the ``.py`` files and the ``.json`` message catalogues (a Chinese chapter prints them).
    An executed copy is valid while both are unchanged. Each file enters with its path relative to
    the package, so ``course/cache.py`` and a top-level ``cache.py`` cannot stand in for each other.
    """
    package_dir = Path(package_dir)
    h = hashlib.sha256(Path(path).read_bytes())
    for f in sorted(
        f for f in package_dir.rglob("*") if f.suffix in (".py", ".json") and f.is_file()
    ):
        h.update(f.relative_to(package_dir).as_posix().encode() + f.read_bytes())
    return h.hexdigest()[:16]


def _cache_path(path: Path, cache_dir: Path) -> Path:
    return Path(cache_dir) / f"{Path(path).stem}-{_source_key(Path(path), package_dir())}.ipynb"


def execute_notebook(
    path: Path, cache_dir: "Path | None" = None, timeout: int = 600
) -> nbformat.NotebookNode:
    """Run a notebook top to bottom in a fresh kernel (cwd: its folder), keeping outputs and widget state.

    With ``cache_dir`` the executed copy is stored there and reused while the notebook and fmtutor are unchanged.

    Raises:
        nbclient.exceptions.CellExecutionError: when a cell raises.
    """
    from nbclient import NotebookClient

    path = Path(path)
    cached = _cache_path(path, cache_dir) if cache_dir is not None else None
    if cached is not None and cached.exists():
        return nbformat.read(cached, as_version=4)
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=KERNEL,
        store_widget_state=True,
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        for old in cached.parent.glob(f"{path.stem}-*.ipynb"):
            old.unlink()
        nbformat.write(nb, cached)
    return nb


def _execute_worker(
    path: str, cache_dir: str, threads: int, env: "dict[str, str] | None" = None
) -> tuple[str, float]:
    """Execute one notebook into the cache; returns the cached copy's path and the seconds it took."""
    os.environ["OMP_NUM_THREADS"] = str(
        threads
    )  # inherited by the kernel: torch then uses this many threads
    os.environ.update(env or {})
    t0 = time.perf_counter()
    cached = _cache_path(
        Path(path), Path(cache_dir)
    )  # keyed on the sources as they were when the run began
    if not cached.exists():
        nb = execute_notebook(Path(path))
        cached.parent.mkdir(parents=True, exist_ok=True)
        for old in cached.parent.glob(f"{Path(path).stem}-*.ipynb"):
            old.unlink()
        nbformat.write(nb, cached)
    return str(cached), time.perf_counter() - t0


def execute_all(
    chapters: list[Chapter],
    cache_dir: Path,
    jobs: int = 1,
    env: "dict[str, str] | None" = None,
) -> dict[str, nbformat.NotebookNode]:
    """Execute every chapter (``jobs`` kernels at a time) into ``cache_dir``; returns stem -> executed notebook.

    ``env``: extra environment variables of the kernels (see EDITION_ENV).

    Raises:
        RuntimeError: naming every chapter that failed, with the failing cell's error.
    """
    if jobs < 1:
        raise ValueError(f"jobs: expected >= 1, got {jobs}")
    threads = max(1, (os.cpu_count() or 1) // jobs)
    failures, done = [], {}
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        futs = {
            pool.submit(_execute_worker, str(c.path), str(cache_dir), threads, env): c
            for c in chapters
        }
        for fut in cf.as_completed(futs):
            c = futs[fut]
            try:
                done[c.stem], seconds = fut.result()
                print(f"[publish] executed {c.stem} ({seconds:.1f} s)", flush=True)
            except Exception as e:  # keep going: report every broken chapter at once
                failures.append(f"{c.stem}: {type(e).__name__}: {str(e)[-2000:]}")
                print(f"[publish] FAILED {c.stem}", flush=True)
    if failures:
        raise RuntimeError("chapters failed to execute:\n" + "\n".join(failures))
    return {c.stem: nbformat.read(done[c.stem], as_version=4) for c in chapters}


def editions(notebooks_dir: Path, only: "str | None" = None) -> dict[str, list[Chapter]]:
    """lang -> its chapters: English from ``notebooks_dir``, Chinese from ``notebooks_dir/zh`` (if any).

    An edition with no chapter (or none matching ``only``) is left out.
    """
    out = {}
    for lang in LANGS:
        folder = Path(notebooks_dir) / ("" if lang == "en" else lang)
        try:
            out[lang] = find_chapters(folder, only)
        except FileNotFoundError:
            continue
    return out


def execute_edition(
    chapters: list[Chapter], lang: str, root: Path = ROOT, jobs: int = 1
) -> dict[str, nbformat.NotebookNode]:
    """``execute_all`` for one edition: cached in ``root/.cache/executed`` (``.../executed/zh`` for Chinese).

    The publish run and the tests that need executed chapters (tests/test_slides_fit.py, the zh numbers
    check of tests/test_determinism.py) go through here, so a chapter executed by one is reused by the others.
    """
    cache = Path(root) / ".cache" / "executed"
    return execute_all(
        chapters, cache if lang == "en" else cache / lang, jobs=jobs, env=EDITION_ENV[lang]
    )


# ------------------------------------------------------------------------------------------------ the projector
# A deck is laid out for a 1280 x 720 canvas (reveal.js scales it to the screen). for_projector() turns an
# executed chapter into that deck's notebook: the cells' own tags say what a lecturer shows (nbconvert's
# TagRemovePreprocessor: remove_input, remove_output, remove_cell; 'skip' cells stay out), then every slide
# whose estimated height exceeds the canvas is cut into pages (sub-slides) at paragraph, list-item,
# equation or code-line boundaries, each continuation page repeating the slide's heading and its notes.
# The estimate errs on the tall side; tests/test_slides_fit.py measures the real decks in Chromium.

CANVAS = (1280, 720)
PAGE_HEIGHT = 600  # canvas px a page's content may fill (the rest: padding, slide number, controls)
TEXT_WIDTH = 1180  # canvas px of a line of text
BODY_PX, CODE_PX = 20, 16  # font sizes on the canvas (>= 18 and >= 14 px on a 1280 x 720 screen)
IMAGE_MAX_HEIGHT = 500  # canvas px; CSS keeps every figure's aspect ratio
WIDGET_IMAGE_MAX_HEIGHT = 420  # a live figure shares its slide with its controls
REMOVE_TAGS = {
    "remove_cell_tags": {"remove_cell"},
    "remove_input_tags": {"remove_input"},
    "remove_all_outputs_tags": {"remove_output"},
}
_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# Full-width characters (CJK ideographs, kana, hangul, CJK and full-width punctuation): one em wide, where
# a Latin letter of the body font averages 0.56 em and a monospace cell 0.61 em.
_WIDE = re.compile(
    r"[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f"
    r"\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]"
)


def _width(line: str, em: float) -> float:
    """Length of a line in narrow characters of ``em`` em each: a full-width character counts 1/em."""
    wide = len(_WIDE.findall(line))
    return len(line) + wide * (1.0 / em - 1.0) if wide else len(line)


_WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def _slide_type(cell) -> str:
    return cell.get("metadata", {}).get("slideshow", {}).get("slide_type") or "-"


def _set_slide_type(cell, kind: str) -> None:
    cell.metadata["slideshow"] = {**cell.metadata.get("slideshow", {}), "slide_type": kind}


def _png_size(b64: str) -> "tuple[int, int] | None":
    """Width and height of a base64 PNG, read from its IHDR chunk."""
    try:
        head = base64.b64decode("".join(b64[:64].split())[:32])
    except ValueError:
        return None
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _fit_image(w: float, h: float, max_height: float = IMAGE_MAX_HEIGHT) -> float:
    """Displayed height of a w x h image under the deck's max-width and max-height (aspect kept)."""
    if w <= 0 or h <= 0:
        return 0.0
    return h * min(1.0, TEXT_WIDTH / w, max_height / h)


def _text_lines(text: str, width: float = TEXT_WIDTH, px: float = BODY_PX) -> int:
    """Lines a paragraph of Markdown wraps into (inline math counts at about half its TeX length)."""
    shown = re.sub(r"\$([^$]+)\$", lambda m: "x" * max(1, len(m.group(1)) // 2), text)
    shown = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", shown).replace("**", "").replace("`", "")
    per_line = max(10, int(width / (0.56 * px)))
    return sum(
        max(1, math.ceil(_width(line, 0.56) / per_line)) for line in shown.splitlines() or [""]
    )


def _math_height(tex: str) -> float:
    rows = tex.count("\\\\") + 1
    tall = any(k in tex for k in ("\\frac", "\\dfrac", "\\int", "\\sum", "\\prod", "matrix"))
    wrapped = max(1, -(-int(0.6 * BODY_PX * len(tex) / rows) // TEXT_WIDTH))
    return rows * wrapped * (64 if tall else 46) + 16


def _md_blocks(source: str) -> list[str]:
    """Markdown cut into blocks that may go on different pages: paragraphs, list items, $$ equations, fences."""
    blocks: list[str] = []
    cur: list[str] = []
    mode = ""  # "math" or "fence" while inside one

    def flush() -> None:
        if any(ln.strip() for ln in cur):
            blocks.append("\n".join(cur).strip("\n"))
        cur.clear()

    for line in source.splitlines():
        s = line.strip()
        if mode:
            cur.append(line)
            if (mode == "fence" and s.startswith("```")) or (mode == "math" and s.endswith("$$")):
                mode = ""
                flush()
        elif s.startswith("```") or s.startswith("$$"):
            flush()
            cur.append(line)
            if s.startswith("```"):
                mode = "fence"
            elif len(s) > 2 and s.endswith("$$"):
                flush()
            else:
                mode = "math"
        elif not s:
            flush()
        elif re.match(r"(#{1,6} |[-*+] |\d+[.)] )", s) and not line.startswith(" "):
            flush()
            cur.append(line)
            if s.startswith("#"):
                flush()
        else:
            cur.append(line)
    flush()
    return blocks


def _md_block_height(block: str) -> float:
    s = block.strip()
    if s.startswith("$$"):
        return _math_height(s.strip("$"))
    if s.startswith("```"):
        return _code_height(s) - 4
    m = re.match(r"(#{1,6}) ", s)
    if m:
        size = {1: 44, 2: 34, 3: 27}.get(len(m.group(1)), 22)
        return _text_lines(s, px=size) * size * 1.3 + 24
    if s.startswith("|"):
        return 42 * (s.count("\n") + 1)
    height, body = 0.0, s
    for tex in re.findall(r"\$\$(.+?)\$\$", s, re.S):  # display math inside a paragraph
        height += _math_height(tex)
        body = body.replace(tex, "")
    tall = len(re.findall(r"\\d?frac|\\int|\\sum", body))
    indent = 44 if re.match(r"([-*+]|\d+[.)]) ", s) else 0
    return height + _text_lines(body, TEXT_WIDTH - indent) * BODY_PX * 1.5 + 14 + 8 * tall


def _code_height(source: str) -> float:
    per_line = int((TEXT_WIDTH - 30) / (0.61 * CODE_PX))
    lines = sum(
        max(1, math.ceil(_width(ln, 0.61) / per_line)) for ln in source.splitlines() or [""]
    )
    return lines * CODE_PX * 1.35 + 24


def _widget_height(state: dict, model_id: str, depth: int = 0) -> float:
    """Estimated height of a saved widget (boxes stack or sit side by side, images keep their aspect)."""
    m = state.get(model_id)
    if m is None or depth > 20:
        return 0.0
    name, st = m.get("model_name", ""), m.get("state", {})
    kids = [c[len("IPY_MODEL_") :] for c in st.get("children", []) if isinstance(c, str)]
    if name in ("VBoxModel", "BoxModel", "GridBoxModel", "AccordionModel"):
        return sum(_widget_height(state, k, depth + 1) for k in kids) + 6 * len(kids)
    if name in ("HBoxModel", "StackModel", "TabModel"):
        return max([_widget_height(state, k, depth + 1) for k in kids] or [0.0])
    if name == "ImageModel":
        size = next((_png_size(b["data"]) for b in m.get("buffers", []) if "data" in b), None)
        w = float(st["width"]) if str(st.get("width", "")).isdigit() else 0.0
        h = float(st["height"]) if str(st.get("height", "")).isdigit() else 0.0
        if size and not (w and h):
            w, h = (w, size[1] * w / size[0]) if w else size
        return _fit_image(w, h, WIDGET_IMAGE_MAX_HEIGHT)
    if name == "OutputModel":
        return sum(_output_height(o, state) for o in st.get("outputs", []))
    if name in ("HTMLModel", "HTMLMathModel", "LabelModel"):
        text = re.sub(r"<[^>]+>", "", str(st.get("value", "")))
        return 0.0 if not text.strip() else _text_lines(text, TEXT_WIDTH * 0.8, 18) * 28.0 + 8
    return 44.0  # a slider, button, dropdown, play control, progress bar


def _output_height(out: dict, state: dict) -> float:
    kind = out.get("output_type")
    if kind == "stream":
        return _code_height(out.get("text", "")) - 4
    if kind == "error":
        return _code_height("\n".join(out.get("traceback", [])))
    data = out.get("data", {})
    if _WIDGET_VIEW in data:
        return _widget_height(state, data[_WIDGET_VIEW].get("model_id", "")) + 10
    if "image/png" in data:
        md = out.get("metadata", {}).get("image/png", {})
        size = (md["width"], md["height"]) if md.get("width") and md.get("height") else None
        size = size or _png_size(data["image/png"])
        return _fit_image(*size) + 14 if size else float(IMAGE_MAX_HEIGHT)
    if "text/html" in data:
        return 40 * max(1, "".join(data["text/html"]).count("<tr")) + 16
    if "text/latex" in data:
        return _math_height("".join(data["text/latex"]))
    if "text/markdown" in data:
        return sum(_md_block_height(b) for b in _md_blocks("".join(data["text/markdown"])))
    if "text/plain" in data:
        return _code_height("".join(data["text/plain"]))
    return 0.0


def _heading(cell) -> "tuple[str, str] | None":
    """The first heading of a Markdown cell as (hashes, text); a chapter title counts as ``##``."""
    if cell.cell_type != "markdown":
        return None
    for line in cell.source.splitlines():
        m = re.match(r"(#{1,3}) (.+)", line.strip())
        if m:
            return max(m.group(1), "##"), m.group(2).strip()
    return None


def _plain(markdown: str) -> str:
    """Markdown and TeX reduced to readable plain text (for alt texts)."""
    text = re.sub(r"\\(?:mathrm|mathbb|mathcal|text|operatorname)\{([^}]*)\}", r"\1", markdown)
    text = re.sub(r"\\([a-zA-Z]+)", lambda m: m.group(1) if len(m.group(1)) > 3 else "", text)
    return re.sub(r"\s+", " ", re.sub(r"[*`${}\\_^]", "", text)).strip()


def _alt_texts(nb: nbformat.NotebookNode) -> None:
    """Give every figure an alt text: the cell's ``alt`` metadata, else its slide's heading and caption."""
    heading, caption, lang = "", "", edition(nb)
    for cell in nb.cells:
        if cell.cell_type == "markdown" and _slide_type(cell) not in ("skip", "notes"):
            heading = _plain((_heading(cell) or ("", heading))[1])
            prose = [b for b in _md_blocks(cell.source) if not b.lstrip().startswith(("#", "$$"))]
            caption = _plain(prose[0]) if prose else caption
            continue
        if cell.cell_type != "code":
            continue
        pngs = [o for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
        for k, out in enumerate(pngs):
            md = out.setdefault("metadata", {}).setdefault("image/png", {})
            if md.get("alt"):
                continue
            alt = cell.metadata.get("alt") or (
                TEXT[lang]["alt"](k + 1, len(pngs), heading) + caption[:240]
            )
            md["alt"] = alt


def _drop_unshowable(nb: nbformat.NotebookNode) -> None:
    """Drop stderr (warnings) and views of widgets with no saved state (closed, e.g. a finished progress bar)."""
    state = nb.metadata.get("widgets", {}).get(_WIDGET_STATE, {}).get("state", {})
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [
                o
                for o in cell.outputs
                if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
                and (
                    _WIDGET_VIEW not in o.get("data", {})
                    or o["data"][_WIDGET_VIEW].get("model_id") in state
                )
            ]


_CONTROLS = (
    "SliderModel",
    "DropdownModel",
    "ToggleButtonsModel",
    "RadioButtonsModel",
    "CheckboxModel",
    "ToggleButtonModel",
    "ButtonModel",
    "SelectModel",
    "TextModel",
)
KERNEL_NOTE = (
    "<div class='fm-kernel-note' style='font-size:18px;color:#555;margin:.2em 0'><b>Needs a running "
    "kernel:</b> these controls move only in JupyterLab (open the notebook there); here the figure is frozen.</div>"
)

KERNEL_NOTE_ZH = (
    "<div class='fm-kernel-note' style='font-size:18px;color:#555;margin:.2em 0'><b>需要运行中的"
    "内核：</b>这些控件只在 JupyterLab 中才会动（请在那里打开笔记本）；这里的图是静止的。</div>"
)

# The fixed text of each edition's pages (the chapters bring their own).
TEXT: dict[str, dict] = {
    "en": {
        "slides_title": "Flow Matching course: slides",
        "slides_intro": (
            "Reveal.js decks of every chapter, laid out for a 1280&times;720 projector. "
            "<kbd>&rarr;</kbd>, <kbd>Space</kbd> or <kbd>Page&nbsp;Down</kbd> go to the next slide "
            "(every slide, one after the other; <kbd>&larr;</kbd> goes back), <kbd>S</kbd> opens the "
            "speaker view with the notes, <kbd>Esc</kbd> an overview, <kbd>F</kbd> full screen. "
            "Everything loads from this folder; no network needed."
        ),
        "site_title": "Flow Matching: an interactive course",
        "site_intro": (
            "Every chapter executed, with its figures and animations. "
            "Sliders that recompute need a kernel: open the notebooks in JupyterLab for those."
        ),
        "contents": "Contents",
        "continued": "(continued)",
        "kernel_note": KERNEL_NOTE,
        "page_note": (
            "A static copy of the chapter, executed when the site was built. Figures and animations\n"
            "(press &#9654;) work here; sliders that <em>recompute</em> a figure need a running kernel: open\n"
            "<code>{source}</code> in JupyterLab."
        ),
        "alt": lambda k, n, heading: f"Figure{f' {k} of {n}' if n > 1 else ''} for “{heading}”: ",
        "thumb_alt": "a figure from {title}",
        "learn": ("what you will learn",),
        "edition": "English",
        "glossary": "Glossary · 术语表",
    },
    "zh": {
        "slides_title": "流匹配课程：幻灯片",
        "slides_intro": (
            "每一章的 reveal.js 幻灯片，按 1280&times;720 的投影仪排版。"
            "<kbd>&rarr;</kbd>、<kbd>Space</kbd> 或 <kbd>Page&nbsp;Down</kbd> 进入下一张"
            "（逐张走过所有幻灯片；<kbd>&larr;</kbd> 返回），<kbd>S</kbd> 打开带讲者备注的演讲者视图，"
            "<kbd>Esc</kbd> 打开总览，<kbd>F</kbd> 全屏。所有文件都从本地加载，无需联网。"
        ),
        "site_title": "流匹配：交互式课程",
        "site_intro": (
            "每一章都已执行，附带其中的图和动画。需要重新计算的滑块离不开内核："
            "请在 JupyterLab 中打开笔记本来使用它们。"
        ),
        "contents": "目录",
        "continued": "（续）",
        "kernel_note": KERNEL_NOTE_ZH,
        "page_note": (
            "本章的静态副本，在构建网站时执行。图和动画（按 &#9654;）在这里都能用；"
            "<em>重新计算</em>图的滑块需要运行中的内核：请在 JupyterLab 中打开 "
            "<code>{source}</code>。"
        ),
        "alt": lambda k, n, heading: (
            f"“{heading}”的图{f'（第 {k} 幅，共 {n} 幅）' if n > 1 else ''}："
        ),
        "thumb_alt": "《{title}》中的一幅图",
        "learn": ("本章目标", "你将学到"),
        "edition": "中文版",
        "glossary": "术语表 · Glossary",
    },
}


def _freeze_kernel_controls(nb: nbformat.NotebookNode) -> int:
    """Disable saved controls that only Python could answer, and say so under their widget.

    A control linked in the browser (a Play button's slider, ``jslink``) keeps working and stays enabled.
    Returns the number of widget outputs that got the note.
    """
    state = nb.metadata.get("widgets", {}).get(_WIDGET_STATE, {}).get("state", {})
    note = TEXT[edition(nb)]["kernel_note"]
    linked = {
        end[0][len("IPY_MODEL_") :]
        for m in state.values()
        if m.get("model_name", "").endswith("LinkModel")
        for end in (m["state"].get("source"), m["state"].get("target"))
        if end
    }
    frozen = {
        k
        for k, m in state.items()
        if m.get("model_name", "").endswith(_CONTROLS) and k not in linked
    }
    for k in frozen:
        state[k]["state"]["disabled"] = True

    def holds(model_id: str, depth: int = 0) -> bool:
        m = state.get(model_id, {})
        kids = [c[len("IPY_MODEL_") :] for c in m.get("state", {}).get("children", []) or []]
        return model_id in frozen or (depth < 20 and any(holds(c, depth + 1) for c in kids))

    notes = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outs = []
        for o in cell.outputs:
            outs.append(o)
            view = o.get("data", {}).get(_WIDGET_VIEW)
            if view and holds(view.get("model_id", "")):
                outs.append(nbformat.v4.new_output("display_data", {"text/html": note}))
                notes += 1
        cell.outputs = outs
    return notes


def _copy_cell(cell, part: int, **changes):
    new = nbformat.from_dict(copy.deepcopy(cell))
    if "id" in new:
        new["id"] = f"{cell.get('id', 'cell')}-p{part}"[:64]
    for k, v in changes.items():
        new[k] = v
    return new


class _Pager:
    """Fills pages of one slide in order; a new page starts with the slide's heading, marked continued."""

    def __init__(self, heading: "tuple[str, str] | None", key: str, lang: str = "en") -> None:
        self.key = key
        self.continued = TEXT[lang]["continued"]
        self.pages: list[list] = [[]]
        self.used = 0.0
        self.heading = heading  # (markdown hashes, text)
        self.parts = 0

    def room(self) -> float:
        return PAGE_HEIGHT - self.used

    def empty(self) -> bool:
        """True while this page holds nothing but its continuation heading."""
        return self.used <= (self._head_height() if len(self.pages) > 1 else 0.0) + 1

    def _head_height(self) -> float:
        return (
            _md_block_height(f"{self.heading[0]} {self.heading[1]} {self.continued}")
            if self.heading
            else 0.0
        )

    def new_page(self) -> None:
        self.parts += 1
        page, self.used = [], 0.0
        if self.heading:
            hashes, text = self.heading
            head = nbformat.v4.new_markdown_cell(
                f"{hashes} {text} <small>{self.continued}</small>",
                metadata={"slideshow": {"slide_type": "subslide"}},
            )
            head["id"] = f"{self.key}-continued-{self.parts}"[:64]
            page.append(head)
            self.used = self._head_height()
        else:
            page.append(None)  # the next cell starts the sub-slide
        self.pages.append(page)

    def add(self, cell, height: float) -> None:
        page = self.pages[-1]
        if page and page[0] is None:
            page[0] = cell
            _set_slide_type(cell, "subslide")
        else:
            page.append(cell)
        self.used += height

    def fit(self, height: float) -> None:
        """Start a new page unless ``height`` fits on this one (or this page holds nothing yet)."""
        if height > self.room() and not self.empty():
            self.new_page()


def _paginate_group(group: list, state: dict, heading, lang: str = "en") -> list:
    pager = _Pager(heading, str(group[0].get("id", id(group))), lang)
    notes = [c for c in group if _slide_type(c) == "notes"]
    for cell in group:
        if _slide_type(cell) == "notes":
            pager.pages[-1].append(cell)
            continue
        if cell.cell_type == "markdown":
            blocks = _md_blocks(cell.source)
            heights = [_md_block_height(b) for b in blocks]
            if sum(heights) <= pager.room() or len(blocks) < 2:
                pager.fit(sum(heights))
                pager.add(cell, sum(heights))
                continue
            chunk: list[str] = []
            chunk_h, part = 0.0, 0
            for block, h in zip(blocks, heights, strict=True):
                if chunk and chunk_h + h > pager.room():
                    piece = cell if part == 0 else _copy_cell(cell, part, metadata={})
                    piece["source"] = "\n\n".join(chunk)
                    pager.add(piece, chunk_h)
                    pager.new_page()
                    chunk, chunk_h, part = [], 0.0, part + 1
                elif not chunk and h > pager.room() and not pager.empty():
                    pager.new_page()
                chunk.append(block)
                chunk_h += h
            piece = cell if part == 0 else _copy_cell(cell, part, metadata={})
            piece["source"] = "\n\n".join(chunk)
            pager.add(piece, chunk_h)
            continue
        if cell.cell_type != "code":
            pager.add(cell, 0.0)
            continue
        hidden = cell.metadata.get("transient", {}).get("remove_source", False)
        in_h = 0.0 if hidden or not cell.source.strip() else _code_height(cell.source)
        outs = [_output_height(o, state) for o in cell.outputs]
        if (
            in_h + sum(outs) <= pager.room()
            or in_h + sum(outs) <= PAGE_HEIGHT - pager._head_height()
        ):
            pager.fit(in_h + sum(outs))
            pager.add(cell, in_h + sum(outs))
            continue
        # too tall for one page: the code (cut at line boundaries, best at blank lines), then the outputs
        lines, part = cell.source.splitlines(), 0
        if in_h:
            pager.fit(min(in_h, PAGE_HEIGHT / 2))
            while lines:
                take = len(lines)
                while take > 1 and _code_height("\n".join(lines[:take])) > pager.room():
                    take -= 1
                blank = [i for i in range(max(1, take // 2), take) if not lines[i].strip()]
                if take < len(lines) and blank:
                    take = blank[-1] + 1
                piece = _copy_cell(cell, part, outputs=[], source="\n".join(lines[:take]).rstrip())
                if part:
                    piece.metadata.pop("slideshow", None)
                pager.add(piece, _code_height(piece.source))
                lines, part = lines[take:], part + 1
                if lines:
                    pager.new_page()
        for out, h in zip(cell.outputs, outs, strict=True):
            pager.fit(h)
            piece = _copy_cell(cell, part, outputs=[out], source="")
            piece.metadata.pop("slideshow", None)
            piece.metadata.setdefault("transient", {})["remove_source"] = True
            pager.add(piece, h)
            part += 1
    cells = []
    for k, page in enumerate(pager.pages):
        page = [c for c in page if c is not None]
        if notes and not any(_slide_type(c) == "notes" for c in page):
            page += [_copy_cell(n, 100 + k) for n in notes]
        cells += page
    return cells


def for_projector(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The deck's copy of an executed chapter: tags applied, figures given alt text, slides cut to fit.

    ``remove_input`` (show the output only), ``remove_output`` and ``remove_cell`` tags act through nbconvert's
    TagRemovePreprocessor; a removed cell that started a slide hands that start to the next cell. Cells
    marked ``skip`` stay out. Then each slide (a ``slide`` or ``subslide`` cell and the cells after it) is
    cut into pages no taller than the canvas (PAGE_HEIGHT, estimated): a continuation page starts with the
    slide's heading "(continued)" and carries the slide's speaker notes too.
    """
    from nbconvert.preprocessors import TagRemovePreprocessor

    nb = nbformat.from_dict(copy.deepcopy(nb))
    lang = edition(nb)
    state = nb.metadata.get("widgets", {}).get(_WIDGET_STATE, {}).get("state", {})
    _alt_texts(nb)
    _freeze_kernel_controls(nb)
    cells, carry = [], None
    for cell in nb.cells:
        kind = _slide_type(cell)
        gone = (
            kind == "skip" or set(cell.metadata.get("tags", [])) & REMOVE_TAGS["remove_cell_tags"]
        )
        if gone:
            if kind in ("slide", "subslide"):
                carry = kind if carry != "slide" else carry
            continue
        if carry and kind not in ("notes", "slide"):
            _set_slide_type(cell, carry)
        carry = None if kind != "notes" else carry
        cells.append(cell)
    nb.cells = cells
    nb, _ = TagRemovePreprocessor(**REMOVE_TAGS).preprocess(nb, {})
    _drop_unshowable(nb)
    groups: list[list] = []
    for cell in nb.cells:
        if not groups or _slide_type(cell) in ("slide", "subslide"):
            groups.append([])
        groups[-1].append(cell)
    out, heading = [], None
    for group in groups:
        heading = next((h for h in map(_heading, group) if h), heading)
        out += _paginate_group(group, state, heading, lang)
    nb.cells = out
    return nb


def _asset_urls(prefix: str) -> dict[str, str]:
    return {
        "require_js_url": f"{prefix}/require.js",
        "jquery_url": f"{prefix}/jquery.min.js",
        "mathjax_url": f"{prefix}/mathjax/MathJax.js?config={MATHJAX_CONFIG}",
        "widget_renderer_url": f"{prefix}/html-manager/embed-amd.js",
    }


def export_slides(nb: nbformat.NotebookNode, prefix: str = STATIC) -> str:
    """A reveal.js deck (HTML text) of one notebook; every asset URL starts with ``prefix`` (relative to the deck)."""
    from nbconvert import SlidesExporter

    exporter = SlidesExporter(
        extra_loaders=[DictLoader(_TEMPLATES)],
        template_file="fmtutor_slides.j2",
        reveal_url_prefix=f"{prefix}/reveal.js",
        reveal_theme="white",
        reveal_transition="none",
        reveal_number="c/t",
        reveal_width=str(CANVAS[0]),
        reveal_height=str(CANVAS[1]),
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        **_asset_urls(prefix),
    )
    body, _ = exporter.from_notebook_node(for_projector(nb), resources={"fmtutor_static": prefix})
    return _html_lang(body, edition(nb))


def _html_lang(body: str, lang: str) -> str:
    """The page with ``<html lang>`` saying its edition's language (nbconvert writes ``en``)."""
    if lang == "en":
        return body
    return body.replace('<html lang="en">', f'<html lang="{HTML_LANG[lang]}">', 1)


def for_site(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The site's copy of an executed chapter: figures with alt text, kernel-only controls disabled and marked."""
    nb = nbformat.from_dict(copy.deepcopy(nb))
    _alt_texts(nb)
    _freeze_kernel_controls(nb)
    _drop_unshowable(nb)
    return nb


def _export_page(nb: nbformat.NotebookNode, nav: str, source: str, prefix: str = STATIC) -> str:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        extra_loaders=[DictLoader(_TEMPLATES)],
        template_file="fmtutor_page.j2",
        exclude_anchor_links=True,
        **_asset_urls(prefix),
    )
    lang = edition(nb)
    body, _ = exporter.from_notebook_node(
        for_site(nb),
        resources={
            "fmtutor_nav": nav,
            "fmtutor_note": TEXT[lang]["page_note"].format(source=html.escape(source)),
            "fmtutor_static": prefix,
        },
    )
    return _html_lang(body, lang)


def _first_png(nb: nbformat.NotebookNode) -> "bytes | None":
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "image/png" in data:
                return base64.b64decode(data["image/png"])
    return None


def _summary(nb: nbformat.NotebookNode) -> str:
    """The 'What you will learn' items of a chapter, one per line (an item's continuation lines joined).

    The list ends at the first line that is neither an item nor a continuation (e.g. "**What you need**").
    """
    heads = TEXT[edition(nb)]["learn"]
    for cell in nb.cells:
        if cell.cell_type != "markdown" or not any(h in cell.source.lower() for h in heads):
            continue
        lines = cell.source.splitlines()
        start = next(i for i, ln in enumerate(lines) if any(h in ln.lower() for h in heads))
        items: list[str] = []
        for ln in lines[start + 1 :]:
            if re.match(r"\s*([-*+]|\d+[.)])\s+", ln):
                items.append(re.sub(r"^\s*([-*+]|\d+[.)])\s+", "", ln).strip())
            elif items and ln.startswith((" ", "\t")) and ln.strip():
                items[-1] += " " + ln.strip()
            elif items or ln.strip():
                break
        if items:
            return "\n".join(items[:6])
    return ""


_PAGE_CSS = """body{font:16px/1.5 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:.2em}.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:1.2em}
.card{border:1px solid #d8dde6;border-radius:8px;padding:1em;background:#fafbfd}
.card img{width:100%;height:190px;object-fit:contain;background:#fff;border-radius:4px}
.card h2{font-size:1.1em;margin:.4em 0}.card a{color:#1f5fbf;text-decoration:none}
.card ul{padding-left:1.2em;margin:.3em 0;font-size:.92em}"""


_INDEX_MATHJAX = """<script type="text/x-mathjax-config">
MathJax.Hub.Config({tex2jax: {inlineMath: [['$','$'], ['\\\\(','\\\\)']], processEscapes: true}, messageStyle: 'none'});
</script><script src="%s/mathjax/MathJax.js?config=%s"></script>"""


def _md_inline(text: str) -> str:
    """Escape a line of Markdown for HTML, keeping `code`, **bold** and *italics* (math stays for MathJax)."""
    parts = re.split(r"(\$[^$]+\$|`[^`]+`)", text)  # math and code are left as they are
    out = []
    for k, part in enumerate(parts):
        part = html.escape(part)
        if k % 2:
            out.append(f"<code>{part[1:-1]}</code>" if part.startswith("`") else part)
            continue
        part = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", part)
        # *italics* end at a space, punctuation or a CJK character (which \w would count as a letter)
        out.append(
            re.sub(r"(?<![A-Za-z0-9_*])\*([^*\s][^*]*)\*(?![A-Za-z0-9_*])", r"<em>\1</em>", part)
        )
    return "".join(out)


def _index_page(
    title: str,
    intro: str,
    cards: list[str],
    lang: str = "en",
    links: "list[tuple[str, str, str]] | None" = None,
    static: str = STATIC,
) -> str:
    """An index page; ``links``: (href, text, hreflang or "") shown under the title (other edition, glossary)."""
    bar = ""
    if links:
        bar = (
            "<p class='fm-langs'>"
            + " · ".join(
                f"<a href='{html.escape(href)}'"
                + (f" hreflang='{HTML_LANG[hl]}' lang='{HTML_LANG[hl]}'" if hl else "")
                + f">{html.escape(text)}</a>"
                for href, text, hl in links
            )
            + "</p>"
        )
    return (
        f"<!DOCTYPE html>\n<html lang='{HTML_LANG[lang]}'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>{_INDEX_MATHJAX % (static, MATHJAX_CONFIG)}"
        f"<style>{_PAGE_CSS}</style></head><body><h1>{html.escape(title)}</h1>{bar}<p>{intro}</p>"
        f"<div class='grid'>{''.join(cards)}</div></body></html>\n"
    )


def _static_for(out_dir: Path, modules: Path, static: str) -> None:
    """Make sure the assets are at ``out_dir/static``: copied there (``_static``), or already built beside."""
    target = (Path(out_dir) / static).resolve()
    if static == STATIC or not (target / "require.js").exists():
        copy_web_assets(modules, target.parent)


def _edition_links(lang: str, other: "str | None", glossary: "str | None") -> list:
    """The index's links: the other edition's index (when it is built) and the glossary."""
    links = []
    if other:
        links.append(
            (other, TEXT["zh" if lang == "en" else "en"]["edition"], "zh" if lang == "en" else "en")
        )
    if glossary:
        links.append((glossary, TEXT[lang]["glossary"], ""))
    return links


def build_slides(
    chapters: list[Chapter],
    out_dir: Path,
    notebooks: dict[str, nbformat.NotebookNode],
    modules: Path,
    lang: str = "en",
    static: str = STATIC,
    other: "str | None" = None,
) -> list[Path]:
    """Write one deck per chapter plus an index into ``out_dir``; returns the decks.

    The assets go to ``out_dir/_static``, or are shared from ``out_dir/static`` (the zh decks use the English
    ones', ``../_static``). ``lang``: the edition (the index's language); ``other``: the other edition's index.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _static_for(out_dir, modules, static)
    decks, cards = [], []
    for c in chapters:
        deck = out_dir / f"{c.stem}.slides.html"
        deck.write_text(export_slides(notebooks[c.stem], static), encoding="utf-8")
        decks.append(deck)
        cards.append(
            f"<div class='card'><h2><a href='{deck.name}'>{html.escape(c.title)}</a></h2>"
            f"<small>{c.stem}</small></div>"
        )
    t = TEXT[lang]
    (out_dir / "index.html").write_text(
        _index_page(
            t["slides_title"],
            t["slides_intro"],
            cards,
            lang,
            _edition_links(lang, other, None),
            static,
        ),
        encoding="utf-8",
    )
    return decks


def build_site(
    chapters: list[Chapter],
    out_dir: Path,
    notebooks: dict[str, nbformat.NotebookNode],
    modules: Path,
    source_prefix: str = "notebooks",
    lang: str = "en",
    static: str = STATIC,
    other: "str | None" = None,
    glossary: "str | None" = None,
) -> Path:
    """Write ``out_dir/index.html`` (chapter cards with a figure each) and one HTML page per chapter; returns the index.

    ``lang``, ``static`` and ``other`` as for build_slides; ``glossary``: the glossary page's address from
    ``out_dir`` (linked from the index). A zh page's navigation links the English page of its chapter.
    """
    out_dir = Path(out_dir)
    (out_dir / "thumbs").mkdir(parents=True, exist_ok=True)
    _static_for(out_dir, modules, static)
    t, cards = TEXT[lang], []
    for i, c in enumerate(chapters):
        nb = notebooks[c.stem]
        prev = (
            f"<a href='{chapters[i - 1].stem}.html'>&larr; {html.escape(chapters[i - 1].title)}</a>"
            if i
            else "<span></span>"
        )
        nxt = (
            f"<a href='{chapters[i + 1].stem}.html'>{html.escape(chapters[i + 1].title)} &rarr;</a>"
            if i + 1 < len(chapters)
            else "<span></span>"
        )
        english = (
            f"<a href='../{c.stem}.html' hreflang='en' lang='en'>{TEXT['en']['edition']}</a>"
            if lang != "en" and other
            else ""
        )
        nav = (
            f"<nav class='fm-nav'><a href='index.html'>{t['contents']}</a><span class='fm-title'>{html.escape(c.title)}</span>"
            f"{prev}{nxt}{english}</nav>"
        )
        page = _export_page(nb, nav, f"{source_prefix}/{c.path.name}", static)
        (out_dir / f"{c.stem}.html").write_text(page, encoding="utf-8")
        png = _first_png(nb)
        thumb = ""
        if png is not None:
            (out_dir / "thumbs" / f"{c.stem}.png").write_bytes(png)
            alt = html.escape(t["thumb_alt"].format(title=c.title))
            thumb = f"<a href='{c.stem}.html'><img src='thumbs/{c.stem}.png' alt='{alt}'></a>"
        items = "".join(f"<li>{_md_inline(s)}</li>" for s in _summary(nb).splitlines())
        cards.append(
            f"<div class='card'>{thumb}<h2><a href='{c.stem}.html'>{html.escape(c.title)}</a></h2>"
            f"<ul>{items}</ul></div>"
        )
    index = out_dir / "index.html"
    index.write_text(
        _index_page(
            t["site_title"],
            t["site_intro"],
            cards,
            lang,
            _edition_links(lang, other, glossary),
            static,
        ),
        encoding="utf-8",
    )
    return index


def build_glossary(
    out_dir: Path, source: Path = ROOT / "GLOSSARY.md", zh_index: "str | None" = "zh/index.html"
) -> Path:
    """Write ``out_dir/glossary.html``: GLOSSARY.md (both languages) as a page; returns its path.

    It links the English index (``index.html`` beside it) and ``zh_index`` (None: no Chinese site).
    """
    import mistune

    body = mistune.html(Path(source).read_text(encoding="utf-8"))
    title = TEXT["en"]["glossary"]
    page = Path(out_dir) / "glossary.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_PAGE_CSS}\n"
        "table{border-collapse:collapse}td,th{border:1px solid #d8dde6;padding:.25em .8em;text-align:left}"
        "</style></head><body><p class='fm-langs'><a href='index.html'>English</a>"
        + (f" · <a href='{zh_index}' hreflang='zh-CN' lang='zh-CN'>中文版</a>" if zh_index else "")
        + "</p>"
        # the Chinese column is marked as such: the browser then picks Simplified Chinese glyphs
        + re.sub(r"(<tr>\s*<td>[^<]*</td>\s*)<td>", r"\1<td lang='zh-CN'>", body)
        + "</body></html>\n",
        encoding="utf-8",
    )
    return page


def for_deck(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy whose "-" (continue) cells carry no slideshow metadata: the form jupyterlab-deck 0.2 understands.

    nbconvert reads a missing slide_type as "-", so the deck and the exported slides agree. Deck 0.2 hides
    cells whose slide_type is "-" altogether.
    """
    nb = nbformat.from_dict(nb)
    for cell in nb.cells:
        if cell.metadata.get("slideshow", {}).get("slide_type") == "-":
            del cell.metadata["slideshow"]
    return nb


def build_present(chapters: list[Chapter], out_dir: Path) -> list[Path]:
    """Write deck-ready copies of the chapters (see for_deck) into ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for c in chapters:
        paths.append(out_dir / c.path.name)
        nbformat.write(for_deck(nbformat.read(c.path, as_version=4)), paths[-1])
    return paths


def _parse(argv: "list[str] | None") -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python tools/publish.py", description=__doc__.split("\n\n")[0]
    )
    p.add_argument(
        "what",
        choices=["slides", "site", "all", "present", "assets"],
        help="what to build ('assets': npm only)",
    )
    p.add_argument(
        "--root", type=Path, default=Path.cwd(), help="repository root (default: current folder)"
    )
    p.add_argument(
        "--notebooks", type=Path, default=None, help="folder of chapters (default: ROOT/notebooks)"
    )
    p.add_argument(
        "--out", type=Path, default=None, help="output folder (default: ROOT/_slides or ROOT/_site)"
    )
    p.add_argument("--only", default=None, help="only chapters whose file name contains this text")
    p.add_argument(
        "--lang",
        choices=["all", *LANGS],
        default="all",
        help="which edition: all (default: English, and Chinese where notebooks/zh/ has the chapter)",
    )
    p.add_argument(
        "--no-execute",
        action="store_true",
        help="export the notebooks as they are, without running them",
    )
    p.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="kernels run at the same time",
    )
    return p.parse_args(argv)


def main(argv: "list[str] | None" = None) -> int:
    """Command-line entry point; returns the exit status."""
    a = _parse(argv)
    root = a.root.resolve()
    if a.what in ("assets", "slides", "site", "all"):
        modules = ensure_web_assets(root / "web")
    if a.what == "assets":
        return 0
    folder = a.notebooks or root / "notebooks"
    if a.what == "present":
        chapters = find_chapters(folder, a.only)
        out = build_present(chapters, a.out or root / "_slides" / "live")
        print(f"[publish] {len(out)} notebooks for jupyterlab-deck in {out[0].parent}/")
        return 0
    found = editions(folder, a.only)
    langs = [lang for lang in LANGS if lang in found and a.lang in ("all", lang)]
    if not langs:
        raise FileNotFoundError(
            f"notebooks: no {'' if a.lang == 'all' else a.lang + ' '}chapter in {folder}"
            + (f" matching {a.only!r}" if a.only else "")
        )
    both = "en" in found and "zh" in found  # the two indexes link each other
    notebooks = {}
    for lang in langs:  # English first: the zh chapters then load the models it trained
        t0 = time.perf_counter()
        if a.no_execute:
            notebooks[lang] = {c.stem: nbformat.read(c.path, as_version=4) for c in found[lang]}
        else:
            notebooks[lang] = execute_edition(found[lang], lang, root, jobs=a.jobs)
        print(
            f"[publish] {lang}: {len(found[lang])} chapters ready in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )
    sub = {"en": Path("."), "zh": Path("zh")}
    up = {"en": STATIC, "zh": f"../{STATIC}"}
    other = {"en": "zh/index.html" if both else None, "zh": "../index.html" if both else None}
    if a.what in ("slides", "all"):
        base = a.out if a.out and a.what == "slides" else root / "_slides"
        for lang in langs:
            out = build_slides(
                found[lang], base / sub[lang], notebooks[lang], modules, lang, up[lang], other[lang]
            )
            print(
                f"[publish] slides ({lang}): {len(out)} decks in {out[0].parent}/ (open index.html)"
            )
    if a.what in ("site", "all"):
        base = a.out if a.out and a.what == "site" else root / "_site"
        glossary = build_glossary(base, root / "GLOSSARY.md", "zh/index.html" if both else None)
        for lang in langs:
            prefix = "notebooks" if lang == "en" else f"notebooks/{lang}"
            index = build_site(
                found[lang],
                base / sub[lang],
                notebooks[lang],
                modules,
                prefix,
                lang,
                up[lang],
                other[lang],
                "glossary.html" if lang == "en" else "../glossary.html",
            )
            print(f"[publish] site ({lang}): {index}")
        print(f"[publish] glossary: {glossary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
