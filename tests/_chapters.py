"""Execute chapters and extract their checked outputs: shared by the determinism run and the snapshot check.

``execute`` and ``run_all`` run notebooks in fresh kernels; ``checked_outputs`` is what the determinism run
(tests/test_determinism.py) compares between two runs; ``checked_lines`` flattens it to the lines a
snapshot keeps (sanitized text lines and PNG hashes, in cell order) and ``snapshot`` builds one;
``compare`` says what a new snapshot lacks of the committed one, chapter by chapter (chapters missing
on either side are skipped). ``python -m tests._chapters --write`` executes every chapter once and writes
tests/snapshots/checked_outputs.json; ``--check [NN ...]`` executes chapters and compares them with it.
``numbers`` and ``compare_numbers`` hold the Chinese edition to the snapshot: its chapters print other
words, but the same numbers in the same order.
conftest.py loads this file as the module ``fmtutor_tests_chapters`` (tests/ is not a package).
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SNAPSHOT = ROOT / "tests" / "snapshots" / "checked_outputs.json"

_SANITIZE = [
    (re.compile(r"0x[0-9a-fA-F]{6,}"), "0xADDR"),
    (re.compile(r"^.*\d+%\|.*\|.*$", re.M), "<progress>"),  # a tqdm bar that reached stdout
    (
        re.compile(r"(loaded the trained model from|trained a model \(.*\) and saved it to) \S+"),
        "<cached model>",
    ),
    (re.compile(r"\d+(\.\d+)?\s*(it/s|s/it)"), "<rate>"),
    (
        re.compile(r"\b\d+(\.\d+)?(e[-+]?\d+)?\s*(ms|µs|us|ns|s|sec|secs|seconds|min|minutes)\b"),
        "<duration>",
    ),
    (re.compile(r"\d+(\.\d+)?\s*(毫秒|微秒|秒|分钟)"), "<duration>"),  # the Chinese edition's units
    (
        re.compile(r" +<duration>"),
        " <duration>",
    ),  # a padded field ("{s:5.1f} s") is as wide as the number
]


def sanitize(text: str, root: "str | None" = None) -> str:
    """Replace what legitimately changes between two runs (see test_determinism) by placeholders."""
    if root:
        text = text.replace(root, "<ROOT>")
    for rx, rep in _SANITIZE:
        text = rx.sub(rep, text)
    return text.rstrip()


def _skipped(cell) -> bool:
    tags = set(cell.get("metadata", {}).get("tags", []))
    return "NBVAL_IGNORE_OUTPUT" in cell.source or bool(
        tags & {"nbval-ignore-output", "determinism-skip"}
    )


def checked_outputs(nb, root: "str | None" = None) -> dict[str, object]:
    """The checked outputs of an executed notebook: per-cell sanitized text and PNG hashes, plus widget PNG hashes."""
    cells = {}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or _skipped(cell):
            continue
        outputs = cell.get("outputs", [])
        stdout = "".join(
            o.text for o in outputs if o.output_type == "stream" and o.name == "stdout"
        )
        parts = (
            [sanitize(stdout, root)] if stdout.strip() else []
        )  # one text: how it was split into messages varies
        for o in outputs:
            if o.output_type == "stream":
                continue
            elif o.output_type in ("execute_result", "display_data"):
                data = o.get("data", {})
                if "application/vnd.jupyter.widget-view+json" in data:
                    continue
                if "image/png" in data:
                    parts.append(
                        "png "
                        + hashlib.sha256("".join(data["image/png"].split()).encode()).hexdigest()[
                            :16
                        ]
                    )
                elif "text/plain" in data:
                    parts.append(sanitize(data["text/plain"], root))
            elif o.output_type == "error":
                parts.append(f"error {o.ename}: {o.evalue}")
        cells[f"cell {i}"] = "\n".join(parts)
    state = (
        nb.metadata.get("widgets", {})
        .get("application/vnd.jupyter.widget-state+json", {})
        .get("state", {})
    )
    images = sorted(
        hashlib.sha256(b["data"].encode()).hexdigest()[:16]
        for m in state.values()
        if m.get("model_name") == "ImageModel"
        for b in m.get("buffers", [])
        if "data" in b
    )
    cells["widget images"] = images
    return cells


def checked_lines(outputs: dict[str, object]) -> list[str]:
    """The non-empty lines of every cell's checked text (PNG hashes included), in cell order."""
    return [
        line
        for key, text in outputs.items()
        if key != "widget images"
        for line in str(text).splitlines()
        if line.strip()
    ]


def missing_lines(expected: list[str], got: list[str]) -> list[str]:
    """The lines of ``expected`` that ``got`` lacks, counted as multisets (cells may move or split)."""
    from collections import Counter

    return list((Counter(expected) - Counter(got)).elements())


# A number as a chapter prints it: not part of a name (x0, ch05, p_1) or of a longer number; a CJK
# character may touch it ("8步"), a Latin letter may not.
_NUMBER = re.compile(r"(?<![A-Za-z0-9_.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![A-Za-z0-9_]|\.\d)")
# a file or folder (the model cache's, e.g. ../.cache/ch05.pt): its digits are no result
_PATHLIKE = re.compile(r"\S*[/\\]\S*")


def numbers(lines: list[str]) -> list[tuple[str, str]]:
    """The numbers printed in checked lines, in order, each with its line (PNG hashes and paths left out)."""
    out = []
    for line in lines:
        if line.startswith("png "):
            continue
        out += [(n, line) for n in _NUMBER.findall(_PATHLIKE.sub(" ", line))]
    return out


def compare_numbers(translated: dict[str, list[str]], expected: dict) -> list[str]:
    """Where a translated edition prints other numbers than the snapshot, one line per chapter.

    ``translated``: {chapter file name: checked lines of its translated run}; ``expected``: the snapshot.
    Chapters the snapshot lacks are skipped. The checked lines pair up in order (the same prints, in
    another language); within a line a translation may reorder its words, so a line's numbers are
    compared as a sorted list. Each problem names the chapter and the first line whose numbers differ.
    """
    problems = []
    for name, lines in sorted(translated.items()):
        if name not in expected:
            continue
        want = [ln for ln in expected[name]["lines"] if not ln.startswith("png ")]
        got = [ln for ln in lines if not ln.startswith("png ")]
        if len(want) != len(got):
            problems.append(f"{name}: English has {len(want)} checked lines, Chinese {len(got)}")
            continue
        for i, (w, g) in enumerate(zip(want, got, strict=True)):
            nw, ng = sorted(n for n, _ in numbers([w])), sorted(n for n, _ in numbers([g]))
            if nw != ng:
                problems.append(
                    f"{name}: line {i + 1}: English prints {nw} in {w!r}, Chinese {ng} in {g!r}"
                )
                break
    return problems


def execute(path: Path, timeout: int = 600):
    """Execute a notebook in a fresh kernel (its folder as working directory); return (notebook, seconds)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=False,
        store_widget_state=True,
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    return nb, time.perf_counter() - start


def run_all(paths: list[Path], jobs: int, timeout: int = 600) -> dict[str, tuple[object, float]]:
    """Execute notebooks, ``jobs`` kernels at a time; {file name: (notebook, seconds)}."""
    with cf.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {p.name: pool.submit(execute, p, timeout) for p in paths}
        return {name: f.result() for name, f in futures.items()}


def snapshot(
    executed: dict[str, tuple[object, float]], root: str
) -> dict[str, dict[str, list[str]]]:
    """{chapter: {"lines": checked lines, "widget images": hashes}} of executed chapters."""
    out = {}
    for name, (nb, _) in sorted(executed.items()):
        c = checked_outputs(nb, root)
        out[name] = {"lines": checked_lines(c), "widget images": list(c["widget images"])}
    return out


def _execute_copies(only: list[str]) -> tuple[dict, str, object]:
    import shutil
    import tempfile

    tmp = tempfile.TemporaryDirectory()
    work = Path(tmp.name) / "notebooks"
    shutil.copytree(
        NOTEBOOKS,
        work,
        ignore=shutil.ignore_patterns(".cache", ".ipynb_checkpoints", "__pycache__"),
    )
    chapters = sorted(p for p in work.glob("*.ipynb") if not only or any(s in p.name for s in only))
    return run_all(chapters, int(os.environ.get("FMTUTOR_DET_JOBS", "2"))), str(work), tmp


def compare(snap: dict, expected: dict) -> list[str]:
    """What a new snapshot lacks of an expected one: missing lines and changed widget images, per chapter."""
    problems = []
    for name, want in expected.items():
        got = snap.get(name)
        if got is None:
            continue
        lost = missing_lines(want["lines"], got["lines"])
        if lost:
            problems.append(
                f"{name}: {len(lost)} expected line(s) missing, e.g. " + " | ".join(lost[:5])
            )
        if sorted(want["widget images"]) != sorted(got["widget images"]):
            problems.append(
                f"{name}: widget images differ ({len(want['widget images'])} expected, "
                f"{len(got['widget images'])} now, {len(set(want['widget images']) & set(got['widget images']))} alike)"
            )
    return problems


def main() -> None:
    """``--write``: execute every chapter once and rewrite the snapshot; ``--check [NN ...]``: compare with it."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    args = sys.argv[1:]
    if not args or args[0] not in ("--write", "--check"):
        sys.exit("usage: python -m tests._chapters --write | --check [NN ...]")
    executed, root, tmp = _execute_copies(args[1:] if args[0] == "--check" else [])
    snap = snapshot(executed, root)
    tmp.cleanup()
    for name, (_, seconds) in sorted(executed.items()):
        print(f"{name}: ran in {seconds:.1f} s")
    if args[0] == "--write":
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(json.dumps(snap, indent=1, ensure_ascii=False) + "\n")
        print(
            f"wrote {SNAPSHOT}: {sum(len(v['lines']) for v in snap.values())} lines from {len(snap)} chapters"
        )
        return
    problems = compare(snap, json.loads(SNAPSHOT.read_text()))
    print(
        "\n".join(problems) if problems else "every checked output of the snapshot is still there"
    )
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
