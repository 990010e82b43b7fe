"""The errors a user can fix: what they gave (a config key, a file, a checkpoint, a run dir) is wrong.

The message names the key, file (with its line) or folder, what is wrong with it and what is allowed. The
command line prints it as one line on stderr and exits with code 2; ``--verbose`` or ``HYDRA_FULL_ERROR=1``
shows the traceback as well. Any other exception is a bug of the product, or of a library, and keeps its
traceback.
"""

from __future__ import annotations

import os
import sys

EXIT_USER_ERROR = 2


class UserError(ValueError):
    """Bad input, phrased as ``<key, file:line or folder>: <what is wrong>; <what is allowed>``."""


class MissingInput(UserError, FileNotFoundError):
    """A file or folder the config names does not exist."""


def one_line(error: BaseException) -> str:
    """The error's message on one line (multi-line messages joined with ``; ``)."""
    return "; ".join(line.strip() for line in str(error).splitlines() if line.strip()) or type(error).__name__


def show_tracebacks() -> bool:
    """Whether user errors keep their traceback: ``--verbose`` (which sets it) or ``HYDRA_FULL_ERROR=1``."""
    return os.environ.get("HYDRA_FULL_ERROR") == "1"


def exit_with(error: BaseException, prefix: str = "rlreason: error", message: str | None = None) -> None:
    """Print ``error`` (or ``message``, a better phrasing of it) as one line on stderr and exit with code 2; with
    ``--verbose`` re-raise it, traceback and all. The one way every ``rlreason`` command reports a user error."""
    if show_tracebacks():
        raise error
    print(f"{prefix}: {message or one_line(error)}", file=sys.stderr)
    sys.exit(EXIT_USER_ERROR)
