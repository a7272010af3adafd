"""The one base class of the errors a user can fix.

Every error that the user causes and can fix (a wrong setting, a missing file, a stack that is not
up, a savepoint of another job) derives from `HeadwaterError`, and its message is one line that says
what to fix. The CLI prints such an error as that line and exits non-zero; any other exception is a
bug and keeps its traceback.
"""

from __future__ import annotations


class HeadwaterError(Exception):
    """A failure the user can fix; `str(error)` says how, in one line."""
