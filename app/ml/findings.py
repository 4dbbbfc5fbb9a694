"""Plain records of what a check found, shared by the import, quality and leakage checks.

They are frozen dataclasses of strings (not exceptions, not log lines) because a finding is
evidence: the service stores ``as_dict()`` as JSON with the dataset version or split, the TUI
lists them and the report prints them, so they must compare equal after a round trip.
"""

from __future__ import annotations

from dataclasses import dataclass

SEVERITIES: tuple[str, str, str] = ("info", "warning", "error")


@dataclass(frozen=True)
class Finding:
    """Something worth knowing about one column (or the whole table when ``column`` is None).

    ``severity`` is "info" (noted, nothing to do), "warning" (look at it before training) or
    "error" (the data is very likely wrong for the task).
    """

    check: str
    column: str | None
    severity: str  # "info" | "warning" | "error"
    detail: str

    def as_dict(self) -> dict[str, str | None]:
        """The JSON form stored with a dataset version."""
        return {"check": self.check, "column": self.column, "severity": self.severity,
                "detail": self.detail}


@dataclass(frozen=True)
class LeakageFinding:
    """A sign that a model could see the answer: which check, which feature, and the evidence.

    ``severity`` is "error" for a leak (a gate should stop training) and "warning" for
    something suspicious a reviewer should look at.
    """

    check: str
    feature: str | None
    severity: str  # "info" | "warning" | "error"
    evidence: str

    def as_dict(self) -> dict[str, str | None]:
        """The JSON form stored with a split."""
        return {"check": self.check, "feature": self.feature, "severity": self.severity,
                "evidence": self.evidence}
