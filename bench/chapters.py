"""Items 3 and 4: each chapter executed headless in a cold kernel (timed), then its live widgets probed.

Every ``notebooks/*.ipynb`` is found by globbing. A chapter runs top to bottom in a fresh kernel
(nbclient, the 'python3' kernel of this interpreter). One extra cell is appended *after* the timed
cells; it reads the kernel's CPU time and then finds every ``fmtutor.course.widgets.LivePlot`` alive in the
kernel (``gc``: also those kept inside other objects), changes each control's value a few times and
times each change until the new PNG bytes are in ``live.image`` (the draw and the render), in wall
and in the kernel's CPU milliseconds, and separately the time spent in the chapter's draw function
(the rest is matplotlib's layout and PNG encoding). FramePlayer
animations are counted but not timed: their frames are pre-rendered and played in the browser.
"""

__all__ = ["find_notebooks", "run_chapter", "run_chapters", "answers", "PROBE", "SWEPT"]

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from .common import stats

ROOT = Path(__file__).resolve().parent.parent
#: Issue 12's trajectory widgets (the functions that build them): each of their controls is also swept
#: (a jump to one end of its range, a drag to the other end in at most 16 steps, jumps end to end).
SWEPT = (
    "trajectory_explorer",
    "particle_explorer",
    "nfe_explorer",
    "batch_paths_widget",
    "likelihood_widget",
)

#: Code run in the chapter's kernel after its last cell. Prints one JSON line prefixed by a marker.
PROBE = r'''
import gc as _gc, json as _json, resource as _res, time as _time
_ru = _res.getrusage(_res.RUSAGE_SELF)
_report = {"kernel_cpu_s": _ru.ru_utime + _ru.ru_stime, "max_rss_mb": _ru.ru_maxrss / 1024, "live": [], "players": 0}
try:
    from fmtutor.course.widgets import LivePlot as _LP, FramePlayer as _FP
except Exception as _e:  # a chapter without fmtutor widgets
    _LP = _FP = None
def _probe_values(c, k=__K__):
    v = c.value
    if hasattr(c, "options") and not isinstance(v, (tuple, list)):
        opts = list(getattr(c, "_options_values", None) or [o[1] if isinstance(o, tuple) else o for o in c.options])
        return [o for o in opts if o != v][:k]
    if isinstance(v, bool):
        return [not v, v] * ((k + 1) // 2)
    if isinstance(v, (int, float)) and hasattr(c, "min") and hasattr(c, "max"):
        lo, hi = c.min, c.max
        if type(c).__name__ == "FloatLogSlider":
            vals = [c.base ** (lo + (hi - lo) * i / (k - 1)) for i in range(k)]
        else:
            vals = [lo + (hi - lo) * i / (k - 1) for i in range(k)]
            step = getattr(c, "step", None)
            if step:
                vals = [lo + round((x - lo) / step) * step for x in vals]
            if isinstance(v, int):
                vals = [int(round(x)) for x in vals]
        out = [x for x in vals if x != v]
        return out[:k]
    return []
def _drag_values(c, k=8):
    """k neighbouring slider positions from the current one, one step apart: what dragging the handle sends."""
    v, name = c.value, type(c).__name__
    if name == "SelectionSlider":
        opts = list(getattr(c, "_options_values", None) or [o[1] if isinstance(o, tuple) else o for o in c.options])
        i = opts.index(v)
        idx = list(range(i + 1, len(opts)))[:k] or list(range(i - 1, -1, -1))[:k]
        return [opts[j] for j in idx]
    if name not in ("FloatSlider", "IntSlider") or not getattr(c, "step", None):
        return []
    up = [v + c.step * (j + 1) for j in range(k)]
    vals = [x for x in up if x <= c.max + 1e-12] if up[-1] <= c.max + 1e-12 else [v - c.step * (j + 1) for j in range(k)]
    vals = [x for x in vals if c.min - 1e-12 <= x <= c.max + 1e-12]
    return [int(round(x)) if isinstance(v, int) else round(x, 10) for x in vals]
_SWEPT = __SWEPT__  # draw functions whose every control is also swept (issue 12's trajectory widgets)
def _opts(c):
    return list(getattr(c, "_options_values", None) or [o[1] if isinstance(o, tuple) else o for o in c.options])
def _sweep_values(c, k=16):
    """Sliders: a jump to the near end of the range, a drag to the far end in at most k steps, a jump
    back and a jump across again. Menus: every other option in turn, then the first again."""
    name = type(c).__name__
    if name in ("Dropdown", "ToggleButtons", "RadioButtons"):
        opts = _opts(c)
        i = opts.index(c.value)
        return opts[i + 1:] + opts[:i + 1]
    if name == "SelectionSlider":
        opts = _opts(c)
        n, pos = len(opts) - 1, opts.index(c.value) / max(len(opts) - 1, 1)
        at = lambda j: opts[j]
    elif name in ("FloatSlider", "IntSlider") and getattr(c, "step", None):
        n = int(round((c.max - c.min) / c.step))
        pos = (c.value - c.min) / max(c.max - c.min, 1e-12)
        at = lambda j: int(round(c.min + j * c.step)) if name == "IntSlider" else round(c.min + j * c.step, 10)
    else:
        return []
    if n < 1:
        return []
    vals = [at(j) for j in sorted({round(i * n / min(k, n)) for i in range(min(k, n) + 1)})]
    vals = vals[::-1] if pos > 0.5 else vals
    return vals + [vals[0], vals[-1]]
_first = []  # per timed change: (wall ms, CPU ms) until the first picture, and whether it was a draft
def _timed_set(lp, c, val):
    """Set c.value = val; return (redrew, wall ms, CPU ms, error text or None) until the final picture.

    Appends to _first the time until the first picture (a draft's, when LivePlot showed one)."""
    calls, drafts = lp.calls, getattr(lp, "drafts", 0)
    t0, c0 = _time.perf_counter(), _time.process_time()
    try:
        c.value = val
    except Exception as e:
        return False, 0.0, 0.0, f"{type(e).__name__}: {e}"
    t1, c1 = _time.perf_counter(), _time.process_time()
    fp = getattr(lp, "first_png", None) or (t1, c1)
    _first.append(((fp[0] - t0) * 1e3, (fp[1] - c0) * 1e3, getattr(lp, "drafts", 0) > drafts))
    return lp.calls > calls, (t1 - t0) * 1e3, (c1 - c0) * 1e3, None
def _same_as_fresh(lp, draw):
    """Does lp's picture equal the first render of a new LivePlot at its values (fresh axes and layout)?"""
    import io as _io, numpy as _np, traitlets as _tl, ipywidgets as _W
    from PIL import Image as _Im
    class _Fixed(_W.DOMWidget, _W.ValueWidget):
        value = _tl.Any()
    _t0 = _time.process_time()
    fresh = _LP(draw, {k: _Fixed(value=c.value) for k, c in lp.controls.items()},
                figsize=tuple(lp.fig.get_size_inches()), dpi=lp.dpi, ncols=lp.ncols,
                **({"width_ratios": lp.width_ratios} if getattr(lp, "width_ratios", None) else {}))
    _fresh_cpu.append((_time.process_time() - _t0) * 1e3)  # the same picture from a new figure: the old way
    px = lambda b: _np.asarray(_Im.open(_io.BytesIO(b)).convert("RGB"))
    a, b = px(lp.image.value), px(fresh.image.value)
    return a.shape == b.shape and bool((a == b).all())
def _names(obj):
    ns = globals()
    hits = [n for n, val in list(ns.items()) if not n.startswith("_") and (val is obj or getattr(val, "live", None) is obj)]
    return hits
if _LP is not None:
    _lps = [o for o in _gc.get_objects() if isinstance(o, _LP)]
    _report["players"] = sum(isinstance(o, _FP) for o in _gc.get_objects())
    for _i, _lp in enumerate(_lps):
        _entry = {"index": _i, "names": _names(_lp), "draw": getattr(_lp.draw_fn, "__qualname__", repr(_lp.draw_fn)),
                  "controls": []}
        _draw0 = _lp.draw_fn
        _draw_ms = []
        def _timed(*a, _f=_draw0, _acc=_draw_ms, **k):
            _s = _time.perf_counter()
            try:
                return _f(*a, **k)
            finally:
                _acc.append((_time.perf_counter() - _s) * 1e3)
        _lp.draw_fn = _timed
        for _cn, _c in _lp.controls.items():
            _orig = _c.value
            _draw_ms.clear()
            _times, _cpus, _changed, _errors, _mismatch, _fresh_cpu = [], [], 0, [], 0, []
            _firsts = []
            for _val in _probe_values(_c):
                _before = _lp.image.value
                _redrew, _dt, _dc, _err = _timed_set(_lp, _c, _val)
                if _err:
                    _errors.append(f"set {_val!r}: {_err}")
                    continue
                if _redrew:
                    _times.append(_dt)
                    _cpus.append(_dc)
                    _firsts.append(_first[-1])
                    _changed += _lp.image.value != _before
                if getattr(_lp, "last_error", None) is not None:
                    _errors.append(f"draw at {_val!r}: {type(_lp.last_error).__name__}: {_lp.last_error}")
                _n_draws = len(_draw_ms)
                try:  # after the timing: the kept axes and layout must give a fresh plot's picture
                    _mismatch += not _same_as_fresh(_lp, _draw0)
                except Exception as _e:
                    _errors.append(f"fresh render at {_val!r}: {type(_e).__name__}: {_e}")
                del _draw_ms[_n_draws:]
            _compute = list(_draw_ms)
            _drag, _drag_cpu, _blits0 = [], [], getattr(getattr(_lp, "kept", None), "blits", 0)
            for _val in _drag_values(_c):  # a drag: small steps, each timed; then one check against a fresh plot
                _redrew, _dt, _dc, _err = _timed_set(_lp, _c, _val)
                if _err:
                    _errors.append(f"drag to {_val!r}: {_err}")
                    break
                if _redrew:
                    _drag.append(_dt)
                    _drag_cpu.append(_dc)
            _blits = getattr(getattr(_lp, "kept", None), "blits", 0) - _blits0
            if _drag:
                try:
                    _mismatch += not _same_as_fresh(_lp, _draw0)
                except Exception as _e:
                    _errors.append(f"fresh render after the drag: {type(_e).__name__}: {_e}")
            try:
                _c.value = _orig
            except Exception:
                pass
            _sweep, _sweep_cpu, _sweep_vals, _sweep_mismatch = [], [], [], None
            if _entry["draw"].split(".")[0] in _SWEPT:
                for _val in _sweep_values(_c):
                    if _val == _c.value:
                        continue
                    _redrew, _dt, _dc, _err = _timed_set(_lp, _c, _val)
                    if _err:
                        _errors.append(f"sweep to {_val!r}: {_err}")
                        break
                    if _redrew:
                        _sweep.append(_dt)
                        _sweep_cpu.append(_dc)
                        _sweep_vals.append(_val)
                _nf = len(_fresh_cpu)
                try:  # the picture at the end of the sweep, against a fresh plot's
                    _sweep_mismatch = int(not _same_as_fresh(_lp, _draw0))
                except Exception as _e:
                    _errors.append(f"fresh render after the sweep: {type(_e).__name__}: {_e}")
                del _fresh_cpu[_nf:]
                try:
                    _c.value = _orig
                except Exception:
                    pass
            _entry["controls"].append({"name": _cn, "type": type(_c).__name__, "ms": _times, "cpu_ms": _cpus,
                                       "sweep_ms": _sweep, "sweep_cpu_ms": _sweep_cpu, "sweep_values": _sweep_vals,
                                       "sweep_not_as_fresh": _sweep_mismatch,
                                       "first_ms": [f[0] for f in _firsts], "first_cpu_ms": [f[1] for f in _firsts],
                                       "drafted": [f[2] for f in _firsts],
                                       "draw_ms": _compute, "new_png": _changed, "not_as_fresh": _mismatch, "fresh_cpu_ms": _fresh_cpu,
                                       "drag_ms": _drag, "drag_cpu_ms": _drag_cpu, "drag_blits": _blits,
                                       "continuous": bool(getattr(_c, "continuous_update", False)),
                                       "errors": _errors[:3]})
        _lp.draw_fn = _draw0
        _report["live"].append(_entry)
print("@@BENCH@@" + _json.dumps(_report))
'''


def find_notebooks(root: Path = ROOT) -> list[Path]:
    """The course's chapters: notebooks/*.ipynb, sorted by name."""
    return sorted((root / "notebooks").glob("*.ipynb"))


def _ts(cell: Any, key: str) -> "float | None":
    stamp = cell.get("metadata", {}).get("execution", {}).get(key)
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() if stamp else None


def run_chapter(path: Path, timeout: int = 600, probe_values: int = 5) -> dict[str, Any]:
    """Execute one notebook in a fresh kernel; return its timings, errors and widget latencies.

    The controls of the widgets drawn by ``SWEPT`` are also swept (``_sweep_values`` in PROBE).
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    n_cells = len(nb.cells)
    probe = PROBE.replace("__K__", str(probe_values)).replace("__SWEPT__", repr(SWEPT))
    nb.cells.append(nbformat.v4.new_code_cell(probe))
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        record_timing=True,
        resources={"metadata": {"path": str(path.parent)}},
    )
    error = None
    start = time.time()
    try:
        client.execute()
    except CellExecutionError as e:
        error = str(e).strip().splitlines()[-1][:300] if str(e).strip() else type(e).__name__
    except Exception as e:  # kernel died, timeout, ...
        error = f"{type(e).__name__}: {str(e)[:300]}"
    end = time.time()
    code = [c for c in nb.cells[:n_cells] if c.cell_type == "code"]
    first = next(
        (_ts(c, "iopub.execute_input") for c in code if _ts(c, "iopub.execute_input")), None
    )
    last = max((t for t in (_ts(c, "shell.execute_reply") for c in code) if t), default=None)
    per_cell = []
    for i, c in enumerate(nb.cells[:n_cells]):
        a, b = _ts(c, "iopub.execute_input"), _ts(c, "shell.execute_reply")
        if c.cell_type == "code" and a and b:
            per_cell.append((i, b - a))
    report: dict[str, Any] = {}
    for out in nb.cells[-1].get("outputs", []):
        text = out.get("text", "")
        if "@@BENCH@@" in text:
            report = json.loads(text.split("@@BENCH@@", 1)[1].splitlines()[0])
    return {
        "name": path.name,
        "cells": len(code),
        "error": error,
        "total_s": (last - start) if last else end - start,  # kernel start + every cell
        "cells_s": (last - first) if (first and last) else None,
        "slowest_cells": sorted(per_cell, key=lambda p: -p[1])[:3],
        "kernel_cpu_s": report.get("kernel_cpu_s"),
        "max_rss_mb": report.get("max_rss_mb"),
        "live": report.get("live", []),
        "players": report.get("players", 0),
    }


def answers(final_ms: float, first_ms: float, drafted: bool) -> bool:
    """Issue 17's rule for one change of a control: the new figure within 100 ms, or a draft (a
    coarse first picture, the busy sign on) within 100 ms and the final figure within 1 s."""
    return final_ms <= 100 or (drafted and first_ms <= 100 and final_ms <= 1000)


def run_chapters(
    paths: "list[Path] | None" = None, log: Any = print, probe_values: int = 5
) -> dict[str, Any]:
    """Run every chapter once; summarise times against the budgets and widget latencies against 100 ms."""
    paths = find_notebooks() if paths is None else paths
    rows = []
    for p in paths:
        r = run_chapter(p, probe_values=probe_values)
        lat = [m for lp in r["live"] for c in lp["controls"] for m in c["ms"]]
        log(
            f"  {r['name']}: {r['total_s']:.1f} s wall (cells {r['cells_s'] or float('nan'):.1f} s),"
            f" kernel cpu {r['kernel_cpu_s'] or float('nan'):.1f} s, {len(r['live'])} live plots,"
            f" widget median {stats(lat)['median'] if lat else float('nan'):.0f} ms"
            + (f"  ERROR {r['error']}" if r["error"] else "")
        )
        rows.append(r)
    widgets = []
    for r in rows:
        for lp in r["live"]:
            for c in lp["controls"]:
                if c["ms"]:
                    label = (lp["names"][0] if lp["names"] else lp["draw"]) + "." + c["name"]
                    widgets.append(
                        {
                            "chapter": r["name"],
                            "widget": label,
                            "type": c["type"],
                            **stats(c["ms"]),
                            "cpu": stats(c["cpu_ms"]),
                            "continuous": c["continuous"],
                            "draw": stats(c["draw_ms"]) if c.get("draw_ms") else None,
                            "new_png": c["new_png"],
                            "not_as_fresh": c.get("not_as_fresh"),
                            "changes": len(c["ms"]),
                            "fresh_cpu": stats(c["fresh_cpu_ms"])
                            if c.get("fresh_cpu_ms")
                            else None,
                            "first": stats(c["first_ms"]) if c.get("first_ms") else None,
                            "first_cpu": stats(c["first_cpu_ms"])
                            if c.get("first_cpu_ms")
                            else None,
                            "drafted": sum(c.get("drafted") or []),
                            # every change (jumps across the range) by issue 17's rule (answers)
                            "answers_cpu": all(
                                answers(*m)
                                for m in zip(c["cpu_ms"], c["first_cpu_ms"], c["drafted"])
                            )
                            if c.get("first_cpu_ms")
                            else None,
                            "answers_wall": all(
                                answers(*m) for m in zip(c["ms"], c["first_ms"], c["drafted"])
                            )
                            if c.get("first_ms")
                            else None,
                            "drag": stats(c["drag_ms"]) if c.get("drag_ms") else None,
                            "drag_cpu": stats(c["drag_cpu_ms"]) if c.get("drag_cpu_ms") else None,
                            "drag_changes": len(c.get("drag_ms") or []),
                            "drag_blits": c.get("drag_blits", 0),
                            "errors": c["errors"],
                        }
                    )
    sliders = []  # issue 12's trajectory widgets: every control swept
    for r in rows:
        for lp in r["live"]:
            for c in lp["controls"]:
                if c.get("sweep_ms"):
                    ms, cpu = c["sweep_ms"], c["sweep_cpu_ms"]
                    sliders.append(
                        {
                            "chapter": r["name"],
                            "widget": (lp["names"][0] if lp["names"] else lp["draw"])
                            + "."
                            + c["name"],
                            "builder": lp["draw"].split(".")[0],
                            "type": c["type"],
                            "continuous": c["continuous"],
                            "steps": len(ms),
                            "values": c["sweep_values"],
                            "wall": stats(ms),
                            "cpu": stats(cpu),
                            # the last two changes are the jumps end to end
                            "jump_wall_max": max(ms[-2:]),
                            "jump_cpu_max": max(cpu[-2:]),
                            "not_as_fresh": c.get("sweep_not_as_fresh"),
                        }
                    )
    total_wall = sum(r["total_s"] for r in rows)
    total_cpu = sum(r["kernel_cpu_s"] or 0.0 for r in rows)
    return {
        "rows": rows,
        "widgets": widgets,
        "sliders": sliders,
        "total_wall_s": total_wall,
        "total_cpu_s": total_cpu,
    }
