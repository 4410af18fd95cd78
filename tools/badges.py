"""Open-in-Colab, Kaggle and Binder badges for every chapter, from the one repository address.

    python tools/badges.py                  # print the Markdown table (one row per chapter)
    python tools/badges.py --write README.md   # replace the block between the badge markers
    python tools/badges.py --check README.md   # exit 1 if that block is missing or stale

The address is ``[project.urls] Repository`` in pyproject.toml (a GitHub repository); the launch links
open the notebook on the branch ``main`` (Colab, Kaggle) or the default branch (Binder). ``links()`` gives
the same links to other tools (the site index).
"""

import argparse
import json
import re
import sys
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))
from add_launch_cell import ROOT, chapters, repository_url  # noqa: E402

BRANCH = "main"
START, END = "<!-- badges:start -->", "<!-- badges:end -->"
IMAGES = {
    "Colab": "https://colab.research.google.com/assets/colab-badge.svg",
    "Kaggle": "https://kaggle.com/static/images/open-in-kaggle.svg",
    "Binder": "https://mybinder.org/badge_logo.svg",
}


def owner_repo(url: str) -> str:
    """'owner/name' of a GitHub address, with a clear error for any other address."""
    m = re.fullmatch(r"https://github\.com/([\w.-]+/[\w.-]+?)(?:\.git)?/?", url)
    if not m:
        raise ValueError(
            f"[project.urls] Repository: expected https://github.com/OWNER/NAME, got {url!r}"
        )
    return m.group(1)


def title(path: Path) -> str:
    """The chapter's first Markdown heading, without the '#'."""
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return path.stem


def links(path: Path, url: "str | None" = None, root: Path = ROOT) -> dict[str, str]:
    """Launch links of one chapter: {'Colab': ..., 'Kaggle': ..., 'Binder': ...}."""
    repo = owner_repo(url or repository_url(root))
    rel = path.resolve().relative_to(root.resolve()).as_posix()
    blob = f"https://github.com/{repo}/blob/{BRANCH}/{rel}"
    return {
        "Colab": f"https://colab.research.google.com/github/{repo}/blob/{BRANCH}/{rel}",
        "Kaggle": f"https://kaggle.com/kernels/welcome?src={blob}",
        "Binder": f"https://mybinder.org/v2/gh/{repo}/HEAD?labpath={quote(rel, safe='')}",
    }


def table(root: Path = ROOT) -> str:
    """The Markdown table, between its markers."""
    url = repository_url(root)
    rows = [START, "| chapter | run it online |", "|---|---|"]
    for p in chapters(root):
        badges = " ".join(
            f"[![Open in {k}]({IMAGES[k]})]({v})" for k, v in links(p, url, root).items()
        )
        rows.append(f"| {title(p).replace('|', '/')} | {badges} |")
    return "\n".join([*rows, END])


def main(argv: "list[str] | None" = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--write", type=Path, help="replace the marked block of this Markdown file")
    group.add_argument("--check", type=Path, help="exit 1 if this file's marked block is stale")
    args = ap.parse_args(argv)
    block = table()
    target = args.write or args.check
    if target is None:
        print(block)
        return 0
    text = target.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    if args.check:
        found = pattern.search(text)
        ok = found is not None and found.group(0) == block
        print(f"{target}: badges {'current' if ok else 'missing or stale (run --write)'}")
        return 0 if ok else 1
    new = (
        pattern.sub(lambda _: block, text)
        if pattern.search(text)
        else text.rstrip() + "\n\n" + block + "\n"
    )
    target.write_text(new, encoding="utf-8")
    print(f"{target}: badges written for {len(chapters())} chapters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
