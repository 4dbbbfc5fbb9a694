"""Command palette: jump to any project, or straight to one of its six stages."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from app.lifecycle import STAGES


class ProjectCommands(Provider):
    async def startup(self) -> None:
        self.slugs: list[str] = []
        wb = getattr(self.app, "wb", None)
        if wb is not None:
            from app.services.projects import list_projects

            worker = self.app.run_worker(partial(list_projects, wb), thread=True)
            self.slugs = [p.slug for p in await worker.wait()]

    def _targets(self) -> list[tuple[str, str, int | None]]:
        targets: list[tuple[str, str, int | None]] = []
        for slug in self.slugs:
            targets.append((f"Open project {slug}", f"dashboard → {slug}", None))
            for s in STAGES:
                targets.append((f"{slug} › Stage {s.number}: {s.title}", s.deliverable, s.number))
        return targets

    def _open(self, slug: str, stage: int | None) -> None:
        from screens.project import ProjectScreen

        self.app.push_screen(ProjectScreen(slug, stage=stage or 0))

    async def discover(self) -> Hits:
        for text, help_text, stage in self._targets():
            if stage is None:
                slug = text.removeprefix("Open project ")
                yield DiscoveryHit(text, partial(self._open, slug, None), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, help_text, stage in self._targets():
            score = matcher.match(text)
            if score > 0:
                slug = text.removeprefix("Open project ").split(" › ")[0]
                yield Hit(score, matcher.highlight(text), partial(self._open, slug, stage), help=help_text)
