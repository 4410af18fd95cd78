"""The mutation test of issue 13: deliberate mistakes in fmtutor's formulas must fail the checks.

* ``mutants.py``: the catalogue (what each mistake patches, which chapters and unit tests use it);
* ``patching.py``: monkeypatching that reaches every binding of a name inside fmtutor;
* ``runner.py``: runs a mutant in a chapter's kernel (nbclient) or under the unit tests (pytest with
  ``plugin.py``, forked by ``unitserver.py``) and prints the kill matrix; ``python -m tests.mutation``
  runs it from a shell;
* ``test_mutants.py``: the pytest entry, ``pytest -m mutation tests/mutation -s``.
"""
