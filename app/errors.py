"""Errors a user can cause, and how the CLI and the TUI show them.

A ``WorkbenchError`` carries one sentence that says what went wrong and what to do. The CLI
prints it on stderr and exits 2; the TUI shows it as a notification. Anything else that
escapes is a bug and keeps its traceback.
"""

from __future__ import annotations


class WorkbenchError(Exception):
    """A problem the user can fix; ``str(err)`` is the whole message they see."""

    exit_code = 2


class NotFound(WorkbenchError):
    """A project, dataset, run or model the user named does not exist."""


class GateFailed(WorkbenchError):
    """A stage gate is not satisfied, so the requested step is refused."""


class JobCancelled(WorkbenchError):
    """The user cancelled a background job; nothing it would have written was kept."""
