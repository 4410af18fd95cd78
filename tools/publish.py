"""Publish the course: offline reveal.js slide decks and a static HTML site built from notebooks/*.ipynb.

Command line (run from the repository root; needs the ``course`` and ``publish`` extras)::

    python tools/publish.py slides   # execute the chapters, write _slides/<chapter>.slides.html + index.html
    python tools/publish.py site     # execute the chapters, write _site/index.html + one page per chapter
    python tools/publish.py all      # both (each chapter is executed once; results are cached)
    python tools/publish.py assets   # only install the JavaScript assets (npm ci in web/)
    python tools/publish.py present  # _slides/live/*.ipynb: copies to present live with jupyterlab-deck

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
    "ensure_web_assets",
    "copy_web_assets",
    "execute_notebook",
    "execute_all",
    "export_slides",
    "build_slides",
    "build_site",
    "build_present",
    "main",
]

import argparse
import base64
import concurrent.futures as cf
import fnmatch
import hashlib
import html
import importlib.util
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
/* a slide is a fixed 960 x 700 canvas: long code lines wrap instead of running off its right edge, and a
   slide taller than the canvas scrolls instead of being cut off at the bottom */
.reveal .highlight pre, .reveal .jp-OutputArea-output pre {white-space: pre-wrap; overflow-wrap: anywhere}
.reveal .slides section {max-height: 700px; overflow-y: auto}
.reveal .jp-OutputArea-output img, .reveal .widget-image {max-height: 420px; width: auto}
</style>{%- endblock html_head_css -%}
{%- block html_head_js_mathjax -%}
<script type="text/x-mathjax-config">
// Slides are typeset while hidden (zero width): automatic line breaking would split inline math.
MathJax.Hub.Config({TeX: {equationNumbers: {autoNumber: "AMS", useLabelIds: true}},
  tex2jax: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']], displayMath: [['$$', '$$'], ['\\\\[', '\\\\]']],
            processEscapes: true, processEnvironments: true},
  displayAlign: 'center', messageStyle: 'none', CommonHTML: {linebreaks: {automatic: false}}});
</script>
<script src="{{ resources.mathjax_url }}"></script>
{%- endblock html_head_js_mathjax -%}
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
<div class="fm-note">A static copy of the chapter, executed when the site was built. Figures and animations
(press &#9654;) work here; sliders that <em>recompute</em> a figure need a running kernel: open
<code>{{ resources.fmtutor_source }}</code> in JupyterLab.</div>
{%- endblock body_header -%}
{%- block body_footer -%}{{ resources.fmtutor_nav }}{{ super() }}{%- endblock body_footer -%}
""",
}


@dataclass(frozen=True)
class Chapter:
    """One notebook of the course: its path, file stem (e.g. ``03_paths``) and title (first ``#`` heading)."""

    path: Path
    stem: str
    title: str


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

    An executed copy is valid while both are unchanged. Each file enters with its path relative to
    the package, so ``course/cache.py`` and a top-level ``cache.py`` cannot stand in for each other.
    """
    package_dir = Path(package_dir)
    h = hashlib.sha256(Path(path).read_bytes())
    for f in sorted(package_dir.rglob("*.py")):
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


def _execute_worker(path: str, cache_dir: str, threads: int) -> tuple[str, float]:
    """Execute one notebook into the cache; returns the cached copy's path and the seconds it took."""
    os.environ["OMP_NUM_THREADS"] = str(
        threads
    )  # inherited by the kernel: torch then uses this many threads
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
    chapters: list[Chapter], cache_dir: Path, jobs: int = 1
) -> dict[str, nbformat.NotebookNode]:
    """Execute every chapter (``jobs`` kernels at a time) into ``cache_dir``; returns stem -> executed notebook.

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
            pool.submit(_execute_worker, str(c.path), str(cache_dir), threads): c for c in chapters
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
        reveal_scroll=True,
        reveal_number="c/t",
        **_asset_urls(prefix),
    )
    body, _ = exporter.from_notebook_node(nb, resources={"fmtutor_static": prefix})
    return body


def _export_page(nb: nbformat.NotebookNode, nav: str, source: str, prefix: str = STATIC) -> str:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        extra_loaders=[DictLoader(_TEMPLATES)],
        template_file="fmtutor_page.j2",
        exclude_anchor_links=True,
        **_asset_urls(prefix),
    )
    body, _ = exporter.from_notebook_node(
        nb, resources={"fmtutor_nav": nav, "fmtutor_source": source, "fmtutor_static": prefix}
    )
    return body


def _first_png(nb: nbformat.NotebookNode) -> "bytes | None":
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "image/png" in data:
                return base64.b64decode(data["image/png"])
    return None


def _summary(nb: nbformat.NotebookNode) -> str:
    """The 'What you will learn' list of a chapter (as plain text lines), or its first paragraph."""
    for cell in nb.cells:
        if cell.cell_type == "markdown" and "what you will learn" in cell.source.lower():
            items = [
                ln.strip()[2:].strip()
                for ln in cell.source.splitlines()
                if ln.strip().startswith(("- ", "* "))
            ]
            if items:
                return "\n".join(items[:5])
    return ""


_PAGE_CSS = """body{font:16px/1.5 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:.2em}.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:1.2em}
.card{border:1px solid #d8dde6;border-radius:8px;padding:1em;background:#fafbfd}
.card img{width:100%;height:190px;object-fit:contain;background:#fff;border-radius:4px}
.card h2{font-size:1.1em;margin:.4em 0}.card a{color:#1f5fbf;text-decoration:none}
.card ul{padding-left:1.2em;margin:.3em 0;font-size:.92em}"""


_INDEX_MATHJAX = f"""<script type="text/x-mathjax-config">
MathJax.Hub.Config({{tex2jax: {{inlineMath: [['$','$'], ['\\\\(','\\\\)']], processEscapes: true}}, messageStyle: 'none'}});
</script><script src="{STATIC}/mathjax/MathJax.js?config={MATHJAX_CONFIG}"></script>"""


def _md_inline(text: str) -> str:
    """Escape a line of Markdown for HTML, keeping `code` and **bold** (math stays for MathJax)."""
    text = html.escape(text)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", text)


def _index_page(title: str, intro: str, cards: list[str]) -> str:
    return (
        f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"{_INDEX_MATHJAX}<style>{_PAGE_CSS}</style></head><body><h1>{html.escape(title)}</h1><p>{intro}</p>"
        f"<div class='grid'>{''.join(cards)}</div></body></html>\n"
    )


def build_slides(
    chapters: list[Chapter],
    out_dir: Path,
    notebooks: dict[str, nbformat.NotebookNode],
    modules: Path,
) -> list[Path]:
    """Write one deck per chapter plus an index into ``out_dir`` (assets in ``out_dir/_static``); returns the decks."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    copy_web_assets(modules, out_dir)
    decks, cards = [], []
    for c in chapters:
        deck = out_dir / f"{c.stem}.slides.html"
        deck.write_text(export_slides(notebooks[c.stem]), encoding="utf-8")
        decks.append(deck)
        cards.append(
            f"<div class='card'><h2><a href='{deck.name}'>{html.escape(c.title)}</a></h2>"
            f"<small>{c.stem}</small></div>"
        )
    (out_dir / "index.html").write_text(
        _index_page(
            "Flow Matching course: slides",
            "Reveal.js decks of every chapter. Arrow keys move, <kbd>S</kbd> opens "
            "speaker notes, <kbd>Esc</kbd> shows an overview. Everything loads from this folder; no network needed.",
            cards,
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
) -> Path:
    """Write ``out_dir/index.html`` (chapter cards with a figure each) and one HTML page per chapter; returns the index."""
    out_dir = Path(out_dir)
    (out_dir / "thumbs").mkdir(parents=True, exist_ok=True)
    copy_web_assets(modules, out_dir)
    cards = []
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
        nav = (
            f"<nav class='fm-nav'><a href='index.html'>Contents</a><span class='fm-title'>{html.escape(c.title)}</span>"
            f"{prev}{nxt}</nav>"
        )
        page = _export_page(nb, nav, f"{source_prefix}/{c.path.name}")
        (out_dir / f"{c.stem}.html").write_text(page, encoding="utf-8")
        png = _first_png(nb)
        thumb = ""
        if png is not None:
            (out_dir / "thumbs" / f"{c.stem}.png").write_bytes(png)
            thumb = f"<a href='{c.stem}.html'><img src='thumbs/{c.stem}.png' alt='a figure from {html.escape(c.title)}'></a>"
        items = "".join(f"<li>{_md_inline(s)}</li>" for s in _summary(nb).splitlines())
        cards.append(
            f"<div class='card'>{thumb}<h2><a href='{c.stem}.html'>{html.escape(c.title)}</a></h2>"
            f"<ul>{items}</ul></div>"
        )
    index = out_dir / "index.html"
    index.write_text(
        _index_page(
            "Flow Matching: an interactive course",
            "Every chapter executed, with its figures and animations. "
            "Sliders that recompute need a kernel: open the notebooks in JupyterLab for those.",
            cards,
        ),
        encoding="utf-8",
    )
    return index


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
    chapters = find_chapters(a.notebooks or root / "notebooks", a.only)
    if a.what == "present":
        out = build_present(chapters, a.out or root / "_slides" / "live")
        print(f"[publish] {len(out)} notebooks for jupyterlab-deck in {out[0].parent}/")
        return 0
    t0 = time.perf_counter()
    if a.no_execute:
        notebooks = {c.stem: nbformat.read(c.path, as_version=4) for c in chapters}
    else:
        notebooks = execute_all(chapters, root / ".cache" / "executed", jobs=a.jobs)
    print(
        f"[publish] {len(chapters)} chapters ready in {time.perf_counter() - t0:.1f} s", flush=True
    )
    if a.what in ("slides", "all"):
        out = build_slides(
            chapters,
            a.out if a.out and a.what == "slides" else root / "_slides",
            notebooks,
            modules,
        )
        print(f"[publish] slides: {len(out)} decks in {out[0].parent}/ (open index.html)")
    if a.what in ("site", "all"):
        out_dir = a.out if a.out and a.what == "site" else root / "_site"
        print(f"[publish] site: {build_site(chapters, out_dir, notebooks, modules)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
