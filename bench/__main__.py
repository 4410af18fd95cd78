"""``python -m bench``: run the benchmarks and write bench/RESULTS.md, bench/results.png and bench/results.json.

Usage (from the repository root, in the course's environment)::

    python -m bench                 # everything (about 15 min on an idle 2-core laptop)
    python -m bench --quick         # a smoke run: 1 seed, short deck run; writes to bench/_quick/
    python -m bench --only chapters # re-run some sections; the others are kept from results.json
    python -m bench --only imports,public-call   # the library's own costs (about 2 minutes)
    python -m bench --only retrain  # chapter 5's loop, one line changed, retrained (under a minute)
    python -m bench --only fewstep  # chapter 14's models trained side by side, W2 at 1-8 NFE
    python -m bench --only support,ot-pool  # issue 17: k-NN precision/recall; coupling="ot"
    python -m bench --only e2e      # issue 17: key press to new image in JupyterLab + Chromium

Sections: training (item 1, and again on the GPU when there is one), sampling (item 2), chapters
(items 3 and 4: chapter run times and widget latencies, with a sweep of every control of issue 12's
trajectory widgets), imports and public-call (item 5: the cost of ``import fmtutor``, of
``import fmtutor.course`` and a chapter's first cell; training through the public ``model(x, t)``
against the MLP's private fast path), retrain (issue 12: one line of chapter 5's visible training
loop changed, and the loop run again in the chapter's kernel), fewstep (issue 16: chapter 14's
plain, minibatch-OT, reflow, distilled and shortcut models trained side by side, W2 / floor at 1,
2, 4 and 8 NFE), support and ot-pool (issue 17, bench/structure.py: k-NN precision and recall beside
W2 / floor on two spirals; ``train_2d(coupling="ot")`` against the default at 8 NFE), e2e (issue 17,
bench/e2e.py: every LivePlot control, key press to new image in JupyterLab + Chromium, against an
echo widget's round trip; ``FMTUTOR_E2E_ONLY=05,10`` for some chapters; --quick: chapter 00 only).
"""

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

import fmtutor as fm

from . import common, report
from .chapters import find_notebooks, run_chapters
from .e2e import run_e2e
from .fewstep import run_fewstep
from .imports import run_imports
from .retrain import run_retrain
from .sampling import run_sampling
from .structure import run_ot_pool, run_support
from .targets import run_targets
from .training import run_public_call, run_threads, run_training

HERE = Path(__file__).resolve().parent
SECTIONS = (
    "training",
    "sampling",
    "chapters",
    "imports",
    "public-call",
    "retrain",
    "fewstep",
    "support",
    "ot-pool",
    "e2e",
    "targets",
)


def _log(msg: str) -> None:
    print(msg, flush=True)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items() if not str(k).startswith("_")}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        return obj.item()
    return obj


def main(argv: "list[str] | None" = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 1 seed, 2,000 deck steps, fewer sets; output in bench/_quick/",
    )
    p.add_argument(
        "--only", default=",".join(SECTIONS), help=f"comma-separated subset of {SECTIONS}"
    )
    p.add_argument(
        "--seeds", type=int, default=3, help="seeds for the training comparison (default 3)"
    )
    p.add_argument("--refs", type=int, default=12, help="reference sets per W2 score (default 12)")
    p.add_argument(
        "--floor-pairs", type=int, default=48, help="pairs averaged in the noise floor (default 48)"
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads in this process (default 1; see RESULTS.md)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default bench/, or bench/_quick/ with --quick)",
    )
    args = p.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    bad = [s for s in only if s not in SECTIONS]
    if bad:
        p.error(f"--only: unknown sections {bad}; choose from {SECTIONS}")
    out = args.out or (HERE / "_quick" if args.quick else HERE)
    out.mkdir(parents=True, exist_ok=True)
    seeds = list(range(1 if args.quick else args.seeds))
    n_refs = 2 if args.quick else args.refs
    deck_steps = 2000 if args.quick else 10_000
    torch.set_num_threads(args.threads)

    store = out / "results.json"
    res: dict[str, Any] = json.loads(store.read_text()) if store.exists() else {}
    cmd = "python -m bench" + (
        ""
        if argv is None and len(sys.argv) == 1
        else " " + " ".join(sys.argv[1:] if argv is None else argv)
    )
    res.update(
        {
            "command": cmd.strip(),
            "date": time.strftime("%Y-%m-%d %H:%M %Z"),
            "quick": args.quick,
            "machine": common.machine_info(),
            "n_refs": n_refs,
        }
    )

    def stamp(section: str, load0: list) -> None:
        res[section]["run"] = {
            "date": time.strftime("%Y-%m-%d %H:%M %Z"),
            "command": res["command"],
            "load_start": load0,
            "load_end": common.machine_info()["load_avg"],
        }

    def save() -> None:
        res["load_end"] = common.machine_info()["load_avg"]
        store.write_text(json.dumps(_jsonable(res), indent=1))
        report.write_markdown(res, out / "RESULTS.md")
        report.write_figure(res, out / "results.png")

    refs = common.reference_sets(n_refs)
    if {"training", "sampling"} & set(only) or "floors" not in res:
        _log("noise floors ...")
        res["floors"] = common.floors(refs, 4 if args.quick else args.floor_pairs)
        _log("  " + ", ".join(f"{k} {v['mean']:.4f}" for k, v in res["floors"].items()))
    floor = res["floors"]["iid"]["mean"]

    model0 = None
    load0 = common.machine_info()["load_avg"]
    if "training" in only:
        _log("training: deck recipe vs fmtutor's default, side by side (CPU) ...")
        tr: dict[str, Any] = {
            "cpu": run_training(seeds, refs, floor, torch.device("cpu"), deck_steps, _log)
        }
        model0 = tr["cpu"]["_models"][("fmtutor", seeds[0])]
        dev = fm.default_device()
        if dev.type != "cpu":
            _log(f"training again on {dev} ...")
            tr["gpu"] = run_training(seeds, refs, floor, dev, deck_steps, _log)
        else:
            tr["gpu_note"] = "no GPU available (torch.cuda.is_available() is False, no MPS)"
            _log("  no GPU: " + tr["gpu_note"])
        _log("threads: the deck's step on 1 vs 2 torch threads ...")
        tr["threads"] = run_threads(steps=30 if args.quick else 100, repeats=2 if args.quick else 3)
        res["training"] = tr
        stamp("training", load0)
        save()
    if "sampling" in only:
        if model0 is None:
            _log("sampling: training the seed-0 default model ...")
            model0, _ = fm.recipes.train_2d(fm.data.two_moons, seed=0, progress=False, device="cpu")
        _log("sampling: the same recipe with minibatch-OT pairs (chapter 7's coupling), seed 0 ...")
        with common.Clock() as ot_clock:
            model_ot, _ = fm.recipes.train_2d(
                fm.data.two_moons,
                seed=0,
                progress=False,
                device="cpu",
                steps=300 if args.quick else fm.recipes.DEFAULT_2D["train"]["steps"],
                coupling=fm.couplings.minibatch_ot_coupling,
            )
        ot_score = common.score(model_ot, refs, floor, seed=0)
        _log(
            f"  trained in {ot_clock.cpu_s:.0f} s CPU; W2 {ot_score['w2']:.4f} = {ot_score['ratio']:.2f} x floor"
        )
        _log("sampling: solvers x NFE on the trained models and the exact field ...")
        load0 = common.machine_info()["load_avg"]
        n_sets = 1 if args.quick else 4
        pool = 500 if args.quick else 1000
        sp = run_sampling(
            model0.to("cpu"),
            refs,
            floor,
            n_sets=n_sets,
            time_repeats=2 if args.quick else 3,
            exact_pool=pool,
            exact_sets=1,
            log=_log,
            model_ot=model_ot,
        )
        sp.update(
            {
                "n_sets": n_sets,
                "exact_pool": pool,
                "threads": torch.get_num_threads(),
                "time_repeats": 2 if args.quick else 3,
                "ot_training": {
                    "cpu_s": ot_clock.cpu_s,
                    "wall_s": ot_clock.wall_s,
                    "w2": ot_score["w2"],
                    "ratio": ot_score["ratio"],
                },
            }
        )
        res["sampling"] = sp
        stamp("sampling", load0)
        save()
    if "chapters" in only:
        nbs = find_notebooks()
        _log(f"chapters: {len(nbs)} notebooks, each in a fresh kernel ...")
        load0 = common.machine_info()["load_avg"]
        res["chapters"] = run_chapters(nbs, log=_log, probe_values=3 if args.quick else 5)
        stamp("chapters", load0)
        save()
    if "imports" in only:
        _log(
            "imports: import fmtutor, import fmtutor.course, a chapter's first cell (fresh processes) ..."
        )
        load0 = common.machine_info()["load_avg"]
        res["imports"] = run_imports(repeats=3 if args.quick else 9, log=_log)
        stamp("imports", load0)
        save()
    if "public-call" in only:
        _log(
            "public-call: the default recipe through model(x, t) against the private fast path ..."
        )
        load0 = common.machine_info()["load_avg"]
        res["public_call"] = run_public_call(repeats=1 if args.quick else 3, log=_log)
        stamp("public_call", load0)
        save()

    def section(name: str, key: str, message: str, run: Any) -> None:
        """Run one section when asked for (``--only``): log, measure, stamp the load, save."""
        if name in only:
            _log(f"{name}: {message} ...")
            load0 = common.machine_info()["load_avg"]
            res[key] = run()
            stamp(key, load0)
            save()

    section(
        "retrain",
        "retrain",
        "chapter 5's loop, then the loop with one line changed, in the chapter's kernel",
        lambda: run_retrain(repeats=1 if args.quick else 2, log=_log),
    )
    section(
        "fewstep",
        "fewstep",
        "chapter 14's six models trained side by side, W2 / floor at 1-8 NFE",
        lambda: run_fewstep(refs, floor, n_sets=1 if args.quick else 2, log=_log),
    )
    for name, key, run in (
        ("support", "support", run_support),
        ("ot-pool", "ot_pool", run_ot_pool),
    ):
        section(name, key, f"issue 17 ({run.__doc__.splitlines()[0]})", lambda run=run: run(_log))
    section(
        "e2e",
        "e2e",
        "every control, key press to new image in JupyterLab + Chromium",
        lambda: run_e2e(_log, quick=args.quick),
    )
    section(
        "targets",
        "targets",
        "deck, default and OT recipes on five 2-D targets x three seeds",
        lambda: run_targets(_log, quick=args.quick),
    )
    save()
    _log(f"wrote {out / 'RESULTS.md'} and {out / 'results.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
