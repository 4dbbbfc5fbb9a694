"""Errors a user can cause in the ML computations, and the signal for a cancelled job.

They live in ``app.ml`` (not in a service module) so that a worker process can raise them
without importing anything outside this package; the caller shows the message as-is.
"""

from __future__ import annotations


class DataFileError(ValueError):
    """A data file (or the data in it) cannot be used.

    The message is one user-facing sentence that says what is wrong and what to do, because
    the CLI prints it without a traceback and the TUI shows it as a notification. It subclasses
    ``ValueError`` so that generic callers that already catch bad values keep working.
    """


class TrainingCancelled(Exception):
    """Raised inside ``train_model`` when the caller's ``should_stop()`` asked it to stop.

    Not a ``ValueError``: a cancel is the user's choice, not bad input, and the job runner
    records it as "cancelled" rather than "failed".
    """
