"""Run mutants against the chapters (nbclient) and the unit tests (pytest), and print the kill matrix.

A chapter run executes a temporary copy of the notebook whose first cell puts the repository on
sys.path, points FMTUTOR_CACHE at an empty folder (no cached model can hide a training mutant) and
applies the mutant. It is classified:

* killed: an AssertionError raised by the notebook's own code in a cell whose source has ``assert``;
* crashed: any other exception (including an AssertionError raised inside fmtutor);
* timeout: a cell ran past the time limit;
* survived: the chapter ran to the end.

A unit run is ``pytest -p tests.mutation.plugin FILES`` with FMTUTOR_MUTANT set (plugin.py says
what counts as a kill there), in a child forked by a server that imported pytest, torch, scipy and
fmtutor once (unitserver.py; FMTUTOR_MUTATION_FORK=0 starts a fresh process per run instead).
Only "killed" kills. The jobs (one chapter chain and one unit run per mutant) share ``jobs``
workers, longest first (the last run's times, from test-artifacts/mutation/results.json); a
chapter chain stops at its first kill unless ``exhaustive``.

``python -m tests.mutation [--jobs 2] [--all] [--only a,b] [--controls]`` runs from the command line.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .mutants import ALL, CATALOGUE, CHAPTERS, CONTROLS, Mutant

__all__ = ["Outcome", "MutantResult", "run_chapter", "run_unit", "run", "matrix", "main", "ROOT"]

ROOT = Path(__file__).resolve().parents[2]
#: The chapters to mutate (FMTUTOR_MUTATION_NOTEBOOKS: another folder, e.g. proposed edits).
NOTEBOOKS = Path(os.environ.get("FMTUTOR_MUTATION_NOTEBOOKS", ROOT / "notebooks"))
ARTIFACTS = ROOT / "test-artifacts" / "mutation"
#: Rough seconds of a chapter on one core (cold kernel, empty cache): the order jobs start in.
CHAPTER_COST = {
    "00": 8, "01": 6, "02": 8, "03": 8, "04": 12, "05": 20,
    "06": 20, "07": 18, "08": 14, "09": 18, "10": 16, "11": 30,
}  # fmt: skip
#: pytest options of a unit run: the project's addopts without the plugins the unit tests do not use
#: (nbval, hypothesis's and Playwright's plugins cost seconds of start-up each run).
UNIT_OPTIONS = [
    *("-q", "-o", "addopts=", "--import-mode=importlib", "-p", "no:cacheprovider"),
    *("-p", "no:randomly", "-p", "no:nbval", "-p", "no:hypothesispytest", "-p", "no:playwright"),
]
_ANSI = re.compile(r"\x1b\[[0-9;]*m")

INJECT = """\
# injected by tests/mutation: apply one mutant before the chapter imports anything
import os, sys
sys.path.insert(0, {root!r})
os.environ["FMTUTOR_CACHE"] = {cache!r}
import tests.mutation.mutants as _mutation
_mutation.apply({name!r})
"""


@dataclass
class Outcome:
    """One run: status (killed | crashed | timeout | survived | not run), where, what, how long."""

    status: str
    where: str = ""
    message: str = ""
    seconds: float = 0.0
    output: str = ""  # the end of what the failing cell printed (the numbers the check saw)


@dataclass
class MutantResult:
    """A mutant's outcomes: per chapter run, and of the unit tests."""

    mutant: Mutant
    chapters: dict[str, Outcome] = field(default_factory=dict)
    unit: "Outcome | None" = None

    @property
    def chapter_kill(self) -> "tuple[str, Outcome] | None":
        return next(((c, o) for c, o in self.chapters.items() if o.status == "killed"), None)

    @property
    def ok(self) -> bool:
        """Killed by a chapter and by the unit tests (a control: classified as it expects)."""
        if self.mutant.expect == "killed":
            return (
                self.chapter_kill is not None
                and self.unit is not None
                and self.unit.status == "killed"
            )
        return all(o.status == self.mutant.expect for o in self.chapters.values()) and (
            self.unit is not None and self.unit.status == self.mutant.expect
        )


def notebook(chapter: str) -> Path:
    """notebooks/NN_*.ipynb of a chapter number 'NN'."""
    found = sorted(NOTEBOOKS.glob(f"{chapter}_*.ipynb"))
    if not found:
        raise FileNotFoundError(f"chapter: no notebooks/{chapter}_*.ipynb")
    return found[0]


def _kernel_env(cache: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        FMTUTOR_CACHE=cache,
        OMP_NUM_THREADS="1",
        MPLBACKEND="module://matplotlib_inline.backend_inline",
        PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    )
    return env


def _classify(nb, exc: BaseException) -> Outcome:
    """Find the failing cell of an executed notebook (the injected cell is cell -1)."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    if isinstance(exc, CellTimeoutError):
        return Outcome("timeout", message=str(exc).splitlines()[0][:200])
    if isinstance(exc, DeadKernelError):
        return Outcome("crashed", message="the kernel died")
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.output_type != "error":
                continue
            where = f"cell {i - 1}"
            message = f"{out.ename}: {out.evalue}"[:200]
            frames = [
                line.strip()
                for line in (_ANSI.sub("", t) for t in out.traceback)
                if line.strip().startswith(("Cell In[", "File "))
            ]
            innermost_is_cell = bool(frames) and frames[-1].startswith("Cell In[")
            printed = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
            printed = " | ".join(printed.strip().splitlines()[-4:])[-400:]
            is_check = (
                out.ename == "AssertionError" and innermost_is_cell and "assert" in cell.source
            )
            return Outcome(
                "killed" if i > 0 and is_check else "crashed", where, message, 0.0, printed
            )
    return Outcome("crashed", message=f"{type(exc).__name__}: {exc}"[:200])


def run_chapter(name: str, chapter: str, cell_timeout: int = 180, attempts: int = 3) -> Outcome:
    """Execute a temporary copy of a chapter with the mutant ``name`` applied in its first cell.

    A kernel that dies before it has run the first cell (a start-up failure on a busy machine, e.g.
    "Kernel died before replying to kernel_info") is started again, up to ``attempts`` times: it says
    nothing about the mutant.
    """
    import nbformat
    from nbclient import NotebookClient

    start = time.perf_counter()
    for attempt in range(1, attempts + 1):
        with tempfile.TemporaryDirectory(prefix=f"mutant-{name}-{chapter}-") as tmp:
            cache = Path(tmp) / "cache"
            cache.mkdir()
            nb = nbformat.read(notebook(chapter), as_version=4)
            src = INJECT.format(root=str(ROOT), cache=str(cache), name=name)
            nb.cells.insert(0, nbformat.v4.new_code_cell(src))
            nbformat.write(nb, Path(tmp) / notebook(chapter).name)
            client = NotebookClient(
                nb,
                timeout=cell_timeout,
                kernel_name="python3",
                allow_errors=False,
                resources={"metadata": {"path": tmp}},
            )
            try:
                client.execute(env=_kernel_env(str(cache)))
            except Exception as exc:  # noqa: BLE001 - every failure is classified
                out = _classify(nb, exc)
                if nb.cells[0].get("execution_count") is None and attempt < attempts:
                    continue  # the kernel never ran the first cell: start it again
            else:
                out = Outcome("survived")
        break
    if attempt > 1:
        out.message = f"{out.message} (kernel started {attempt} times)".strip()
    out.seconds = time.perf_counter() - start
    return out


class UnitServers:
    """A pool of fork servers (unitserver.py) for the unit runs, one per worker; None: no forking."""

    def __init__(self, n: int) -> None:
        import queue

        self._free: "queue.Queue[subprocess.Popen]" = queue.Queue()
        self._all: list[subprocess.Popen] = []
        env = {**_kernel_env(tempfile.gettempdir()), "MPLBACKEND": "Agg"}
        for _ in range(n):
            proc = subprocess.Popen(
                [sys.executable, "-m", "tests.mutation.unitserver"],
                cwd=ROOT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            self._all.append(proc)
        for proc in self._all:
            if json.loads(proc.stdout.readline() or "{}").get("ready"):
                self._free.put(proc)
        if self._free.empty():
            raise RuntimeError("unit servers: none started")

    def run(self, args: list[str], env: dict[str, str], log: Path, timeout: int) -> int:
        """One pytest run in a forked child; its exit status."""
        proc = self._free.get()
        try:
            req = {"args": args, "env": env, "cwd": str(ROOT), "log": str(log), "timeout": timeout}
            proc.stdin.write(json.dumps(req) + "\n")
            proc.stdin.flush()
            return int(json.loads(proc.stdout.readline())["code"])
        finally:
            self._free.put(proc)

    def close(self) -> None:
        for proc in self._all:
            proc.stdin.close()
            proc.wait(timeout=30)


def run_unit(
    name: str, files: tuple[str, ...], timeout: int = 400, servers: "UnitServers | None" = None
) -> Outcome:
    """Run the unit-test files with the mutant applied by the plugin; the plugin's verdict."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"mutant-{name}-unit-") as tmp:
        report, log = Path(tmp) / "report.json", Path(tmp) / "pytest.log"
        env = {"FMTUTOR_CACHE": tmp, "FMTUTOR_MUTANT": name, "FMTUTOR_MUTANT_REPORT": str(report)}
        args = [*UNIT_OPTIONS, "-p", "tests.mutation.plugin", *files]
        if servers is not None:
            code = servers.run(args, env, log, timeout)
        else:
            cmd = [sys.executable, "-m", "pytest", *args]
            full_env = {**_kernel_env(tmp), **env, "MPLBACKEND": "Agg"}
            try:
                with open(log, "w") as out_file:
                    subprocess.run(
                        cmd, cwd=ROOT, env=full_env, stdout=out_file, stderr=subprocess.STDOUT,
                        timeout=timeout,
                    )  # fmt: skip
                code = 0
            except subprocess.TimeoutExpired:
                code = 124
        if code == 124:
            out = Outcome("timeout")
        elif report.exists():
            r = json.loads(report.read_text())
            out = Outcome(r["status"], r.get("test", ""), r.get("message", ""))
        else:
            tail = log.read_text().strip().splitlines()[-3:] if log.exists() else []
            out = Outcome("crashed", message=" | ".join(tail)[:300])
    out.seconds = time.perf_counter() - start
    return out


def _previous_seconds() -> dict[tuple[str, str], float]:
    """Each job's seconds in the last run (test-artifacts/mutation/results.json), to order jobs."""
    try:
        last = json.loads((ARTIFACTS / "results.json").read_text())
    except (OSError, ValueError):
        return {}
    out = {}
    for n, r in last.items():
        if isinstance(r, dict) and r.get("chapters"):
            out[n, "chapters"] = sum(o.get("seconds", 0.0) for o in r["chapters"].values())
        if isinstance(r, dict) and r.get("unit"):
            out[n, "unit"] = r["unit"].get("seconds", 0.0)
    return out


def _chapter_chain(m: Mutant, exhaustive: bool) -> dict[str, Outcome]:
    outcomes: dict[str, Outcome] = {}
    for chapter in m.chapters:
        try:
            outcomes[chapter] = run_chapter(m.name, chapter)
        except Exception as exc:  # noqa: BLE001 - e.g. a renamed notebook: reported, not fatal
            outcomes[chapter] = Outcome("crashed", message=f"{type(exc).__name__}: {exc}"[:200])
        if outcomes[chapter].status == "killed" and not exhaustive:
            break
    return outcomes


def run(
    names: "list[str] | None" = None,
    jobs: int = 2,
    exhaustive: bool = False,
    chapters: bool = True,
    unit: bool = True,
    log=print,
) -> dict[str, MutantResult]:
    """Run mutants (default: the catalogue and the controls) with ``jobs`` workers."""
    names = list(ALL) if names is None else names
    results = {n: MutantResult(ALL[n]) for n in names}
    before = _previous_seconds()
    tasks = []
    for n in names:
        m = ALL[n]
        if chapters and m.chapters:
            guess = CHAPTER_COST.get(m.chapters[0], 10)
            tasks.append((before.get((n, "chapters"), guess), n, "chapters"))
        if unit and m.unit_tests:
            tasks.append((before.get((n, "unit"), 6.0), n, "unit"))
    tasks.sort(key=lambda job: -job[0])  # longest first: the two workers finish together
    servers = None
    if unit and hasattr(os, "fork") and os.environ.get("FMTUTOR_MUTATION_FORK", "1") != "0":
        servers = UnitServers(min(jobs, sum(kind == "unit" for _, _, kind in tasks)) or 1)
    try:
        _run_tasks(tasks, results, jobs, exhaustive, servers, log)
    finally:
        if servers is not None:
            servers.close()
    return results


def _run_tasks(tasks, results, jobs, exhaustive, servers, log) -> None:
    with cf.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {}
        for _, n, kind in tasks:
            if kind == "chapters":
                fut = pool.submit(_chapter_chain, ALL[n], exhaustive)
            else:
                fut = pool.submit(run_unit, n, ALL[n].unit_tests, 400, servers)
            futures[fut] = (n, kind)
        for fut in cf.as_completed(futures):
            n, kind = futures[fut]
            if kind == "chapters":
                results[n].chapters = dict(sorted(fut.result().items()))
                summary = ", ".join(
                    f"{c}: {o.status} {o.where} ({o.seconds:.0f} s)".replace("  ", " ")
                    for c, o in results[n].chapters.items()
                )
            else:
                o = results[n].unit = fut.result()
                summary = f"unit: {o.status} {o.where} ({o.seconds:.0f} s)"
            log(f"  {n:34s} {summary}")


#: The last matrix printed by the pytest entry (shown again in pytest's terminal summary).
LAST_MATRIX: "str | None" = None
_MARK = {"killed": "K", "survived": "S", "crashed": "C", "timeout": "T"}


def cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (kernels, pytest runs): load-independent."""
    import resource

    own, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def matrix(
    results: dict[str, MutantResult], seconds: "float | None" = None, cpu: "float | None" = None
) -> str:
    """The kill matrix (mutant x chapter, and the unit tests) with each mutant's verdict."""
    lines = [
        "kill matrix: K killed (cell), S survived, C crashed, T timeout, - mapped but not run "
        "(an earlier chapter killed it), . not mapped",
        f"{'mutant':34s} " + " ".join(f"{c:>4s}" for c in CHAPTERS) + "  unit  verdict",
    ]
    for n, r in results.items():
        cells = []
        for c in CHAPTERS:
            if c not in r.mutant.chapters:
                cells.append(".")
            elif c not in r.chapters:
                cells.append("-")
            else:
                o = r.chapters[c]
                num = o.where.split()[-1] if o.status == "killed" and o.where else ""
                cells.append(_MARK.get(o.status, "?") + num)
        unit_mark = _MARK.get(r.unit.status, "?") if r.unit else "-"
        verdict = ("ok" if r.ok else "FAIL") + (
            "" if r.mutant.expect == "killed" else f" (control: {r.mutant.expect})"
        )
        lines.append(
            f"{n:34s} " + " ".join(f"{c:>4s}" for c in cells) + f"  {unit_mark:>4s}  {verdict}"
        )
    catalogue = [r for r in results.values() if r.mutant.expect == "killed"]
    killed = sum(r.ok for r in catalogue)
    lines.append(f"{killed} of {len(catalogue)} mutants killed by a chapter and by the unit tests")
    for n, r in results.items():
        lines.append(f"- {n}: {r.mutant.description} [{r.mutant.patches}]")
        for c, o in r.chapters.items():
            lines.append(
                f"    chapter {c}: {o.status} {o.where} {o.message} ({o.seconds:.1f} s)".rstrip()
            )
            if o.output:
                lines.append(f"      printed: {o.output}")
        if r.unit:
            u = r.unit
            lines.append(
                f"    unit tests: {u.status} {u.where} {u.message} ({u.seconds:.1f} s)".rstrip()
            )
    if seconds is not None:
        lines.append(
            f"total wall time: {seconds:.0f} s" + (f", CPU time: {cpu:.0f} s" if cpu else "")
        )
    return "\n".join(lines)


def write_artifacts(results: dict[str, MutantResult], text: str) -> Path:
    """test-artifacts/mutation/matrix.txt (this run) and results.json (merged); returns the folder."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "matrix.txt").write_text(text + "\n")
    plain = {
        n: {
            "description": r.mutant.description,
            "patches": r.mutant.patches,
            "expect": r.mutant.expect,
            "ok": r.ok,
            "chapters": {c: asdict(o) for c, o in r.chapters.items()},
            "unit": asdict(r.unit) if r.unit else None,
        }
        for n, r in results.items()
    }
    try:  # keep the other mutants' last results: a partial run (--only) updates its own
        plain = {**json.loads((ARTIFACTS / "results.json").read_text()), **plain}
    except (OSError, ValueError):
        pass
    (ARTIFACTS / "results.json").write_text(json.dumps(plain, indent=1) + "\n")
    return ARTIFACTS


def main(argv: "list[str] | None" = None) -> int:
    """Command line: run, print the matrix, write the artifacts; exit 1 when any verdict fails."""
    ap = argparse.ArgumentParser(
        prog="python -m tests.mutation", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("FMTUTOR_MUTATION_JOBS", "2")))
    ap.add_argument("--all", action="store_true", help="run every mapped chapter (no early stop)")
    ap.add_argument("--only", default="", help="comma-separated mutant names")
    ap.add_argument("--controls", action="store_true", help="only the harness's controls")
    ap.add_argument("--no-unit", action="store_true")
    ap.add_argument("--no-chapters", action="store_true")
    args = ap.parse_args(argv)
    names = (
        [n for n in args.only.split(",") if n]
        if args.only
        else list(CONTROLS)
        if args.controls
        else None
    )
    start, cpu = time.perf_counter(), cpu_seconds()
    results = run(names, args.jobs, args.all, not args.no_chapters, not args.no_unit)
    text = matrix(results, time.perf_counter() - start, cpu_seconds() - cpu)
    print(text)
    print(f"written to {write_artifacts(results, text)}")
    return 0 if all(r.ok for r in results.values()) else 1


__all__ += ["CATALOGUE", "notebook", "write_artifacts"]
