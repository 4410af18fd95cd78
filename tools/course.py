"""Set up the course in ./.venv and open it (``lab``) or run every test (``test``): one command each.

    python3 tools/course.py lab     # install what the course needs, open JupyterLab on notebooks/
    python3 tools/course.py lab zh  # the same, opening the Chinese edition (notebooks/zh/)
    python3 tools/course.py test    # install what the tests need, run unit tests + every notebook (nbval)

Needs Python >= 3.10. This file checks the version before anything else, in syntax every Python 3
reads (no f-strings, no annotations: tests/test_project.py checks), so an old Python gets this message
rather than a crash; the work itself is in course_setup.py beside it.
"""

import os
import sys

if sys.version_info < (3, 10):
    sys.exit("fmtutor needs Python 3.10 or newer; this is Python %d.%d (%s). Install a newer Python and "
             "run this command with it, e.g. python3.12 tools/course.py test" % (
                 sys.version_info[0], sys.version_info[1], sys.executable))

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import course_setup  # noqa: E402  (only after the version check)

if __name__ == "__main__":
    course_setup.main()
