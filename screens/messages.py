"""What the app tells the screens: small past-tense messages, one way, app → screens.

The app's workers post these to the app (``post_message`` is thread-safe); the app passes each
on to every screen in its stack. A screen that shows what changed handles it; a screen that
does not simply never sees it, and one that has been closed is no longer in the stack. The
messages live here, not in ``app.tui``, because screens must not import the faces above them.

None of them bubbles: a screen that posts ``WorkbenchChanged`` to itself reloads only itself,
while one posted to the app reaches every screen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from app.services.report_builder import BuiltReport


@dataclass
class WorkspaceOpened(Message, bubble=False):
    """The workspace is open (``app.wb`` is set): actions that need it apply now."""

    notices: list[str] = field(default_factory=list)  # what the audit-key set-up wants the user to know
    interrupted: list[int] = field(default_factory=list)  # jobs a crash left running, now marked so


@dataclass
class WorkbenchChanged(Message, bubble=False):
    """Something was recorded (a run trained, a version promoted…): what a screen shows may be stale."""


@dataclass
class ReportBuildStarted(Message, bubble=False):
    """A report build of ``slug`` started: its reports screen can offer to cancel it."""

    slug: str


@dataclass
class ReportBuilt(Message, bubble=False):
    """A report build of ``slug`` wrote its PDF."""

    slug: str
    report: BuiltReport


@dataclass
class ReportBuildStopped(Message, bubble=False):
    """A report build of ``slug`` ended without a file (cancelled or failed; the error handler
    has already said which)."""

    slug: str
