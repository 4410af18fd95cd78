"""Messages a student reads, in the chapter's language: the English text is the catalogue's key.

A chapter chooses its language once, in its setup call (``setup(lang="zh")``); from then on every
message of the course layer that goes through ``tr`` — exercise feedback and hints, widget labels,
figure titles, the setup line — comes out in that language::

    >>> set_language("zh")
    >>> tr("steps")
    '步数'
    >>> tr("{n} steps", n=8)
    '8 步'
    >>> set_language("en")
    >>> tr("{n} steps", n=8)
    '8 steps'

A language's catalogue is every ``locale/<lang>/*.json`` file beside this module, merged (a file per
course module, so that two people translating two modules never edit the same file). A message
missing from the catalogue falls back to English; tests/course/test_i18n.py checks that none is.
"""

from __future__ import annotations

__all__ = ["LANGUAGES", "set_language", "language", "tr", "catalogue"]

import json
from functools import cache
from pathlib import Path

#: The languages the course speaks.
LANGUAGES = ("en", "zh")
_LOCALE = Path(__file__).resolve().parent / "locale"
_current = ["en"]


def set_language(lang: str) -> None:
    """Make ``lang`` ('en' or 'zh') the language of every message from now on."""
    if lang not in LANGUAGES:
        raise ValueError(f"lang: expected one of {', '.join(map(repr, LANGUAGES))}, got {lang!r}")
    _current[0] = lang


def language() -> str:
    """The language messages come out in now."""
    return _current[0]


@cache
def catalogue(lang: str) -> dict[str, str]:
    """Every English message of the course with its ``lang`` translation (empty for English)."""
    merged: dict[str, str] = {}
    for path in sorted((_LOCALE / lang).glob("*.json")):
        for key, text in json.loads(path.read_text(encoding="utf-8")).items():
            if merged.get(key, text) != text:
                raise ValueError(f"{path.name}: {key!r} is translated two ways in the catalogue")
            merged[key] = text
    return merged


def tr(message: str, /, **fields: object) -> str:
    """``message`` in the current language, with ``fields`` filled in by ``str.format``.

    Args:
        message: the English text, the key of the catalogue (a literal, so tests can find it).
        **fields: values for the ``{name}`` fields of the message, formatted after translation.

    Returns:
        The translated (or, in English, the same) text with its fields filled in.
    """
    lang = _current[0]
    text = message if lang == "en" else catalogue(lang).get(message, message)
    return text.format(**fields) if fields else text
