"""Command palette: jump to any project, straight to one of its six stages, or to its release
(stage 5), monitoring (stage 6) and reports screens; and run any action of the current screen
by name (``ScreenActions``)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider

from app.lifecycle import STAGES
from screens.host import host_of

# Full screens the palette opens directly: (name in the palette, help text, screen key).
FULL_SCREENS = (
    ("Release", "versions, promotion gate, approvals, shadow / canary / A-B, rollback", "release"),
    ("Monitoring", "drift by feature and batch, alerts, SLA, retraining triggers", "monitoring"),
    ("Reports", "build a PDF (compliance report, model card, drift…) and check the reports built", "reports"),
)

# Actions the palette runs on a full screen it opens first: (name, help, screen key, action).
SCREEN_ACTIONS = (
    ("Import a dataset", "pick a CSV or Parquet file, choose target and time columns, preview, import",
     "data", "import_file"),
    ("Import a monitoring batch", "pick a file of production inputs, label it, preview, import and analyse",
     "monitoring", "import_batch"),
    ("Attach delayed labels", "pick a labels file, choose the batch and the id and label columns", "monitoring",
     "labels"),
    ("SLA rules", "list, add and remove the SLA rules batches are checked against", "monitoring", "sla_rules"),
    ("Drift thresholds", "the effect size at which a feature counts as drifted", "monitoring", "thresholds"),
    ("Retraining schedule", "retrain every N days, or off", "monitoring", "schedule"),
)


class ProjectCommands(Provider):
    async def startup(self) -> None:
        self.slugs: list[str] = []
        wb = host_of(self.app).wb
        if wb is not None:
            from app.services.projects import list_projects

            worker = self.app.run_worker(partial(list_projects, wb), thread=True)
            self.slugs = [p.slug for p in await worker.wait()]

    def _targets(self) -> list[tuple[str, str, str, int | str | None]]:
        """(text, help, slug, what): ``what`` is None for the project, a stage number, or a screen key."""
        targets: list[tuple[str, str, str, int | str | None]] = []
        for slug in self.slugs:
            targets.append((f"Open project {slug}", f"dashboard → {slug}", slug, None))
            for s in STAGES:
                targets.append((f"{slug} › Stage {s.number}: {s.title}", s.deliverable, slug, s.number))
            for name, help_text, key in FULL_SCREENS:
                targets.append((f"{slug} › {name} screen", help_text, slug, key))
            for name, help_text, key, action in SCREEN_ACTIONS:
                targets.append((f"{slug} › {name}", help_text, slug, f"{key}:{action}"))
        return targets

    def _open(self, slug: str, what: int | str | None) -> None:
        if isinstance(what, str) and ":" in what:
            self._open_and_run(slug, *what.split(":", 1))
        elif what == "release":
            from screens.release import ReleaseScreen

            self.app.push_screen(ReleaseScreen(slug))
        elif what == "monitoring":
            from screens.monitoring import MonitoringScreen

            self.app.push_screen(MonitoringScreen(slug))
        elif what == "reports":
            from screens.reports import ReportsScreen

            self.app.push_screen(ReportsScreen(slug))
        else:
            from screens.project import ProjectScreen

            self.app.push_screen(ProjectScreen(slug, stage=what if isinstance(what, int) else 0))

    def _open_and_run(self, slug: str, key: str, action: str) -> None:
        """Open the screen, which runs ``action`` once its first snapshot is shown."""
        if key == "data":
            from screens.data import DataScreen

            self.app.push_screen(DataScreen(slug, then=action))
        else:
            from screens.monitoring import MonitoringScreen

            self.app.push_screen(MonitoringScreen(slug, then=action))

    async def discover(self) -> Hits:
        for text, help_text, slug, what in self._targets():
            if what is None:
                yield DiscoveryHit(text, partial(self._open, slug, None), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, help_text, slug, what in self._targets():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), partial(self._open, slug, what), help=help_text)


def binding_commands(bindings: Iterable[Binding]) -> list[tuple[str, str, str]]:
    """(binding id, text in the palette, help) for every binding a person can run from the palette:
    the description the footer shows, with the lifecycle's name for the action when the registry
    (``app.services.actions``) knows the binding, and the tooltip as help."""
    from app.services.actions import action_for_binding

    out = []
    for binding in bindings:
        if not binding.id or not binding.description:
            continue
        named = " / ".join(a.name for a in action_for_binding(binding.id))
        text = f"{binding.description}: {named}" if named else binding.description
        out.append((binding.id, text, f"{binding.tooltip or ''} (key {binding.key})".strip()))
    return out


class ScreenActions(Provider):
    """The keys of the screen the palette was opened on, as commands: every action a person can
    take there is reachable by name as well as by key (and hidden here when ``check_action``
    hides it from the footer)."""

    def _commands(self) -> list[tuple[str, str, partial[object]]]:
        active = [a for a in self.screen.active_bindings.values() if a.enabled]
        by_id = {a.binding.id: a for a in active if a.binding.id}
        return [(text, help_text, partial(self.app.run_action, by_id[binding_id].binding.action,
                                          by_id[binding_id].node))
                for binding_id, text, help_text in binding_commands(a.binding for a in active)]

    async def discover(self) -> Hits:
        for text, help_text, run in self._commands():
            yield DiscoveryHit(text, run, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, help_text, run in self._commands():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), run, help=help_text)
