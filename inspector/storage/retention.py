"""The disk budget: defect images are kept for a number of days and never let free space fall
below a floor. Images give way first (the oldest deleted, then no new ones saved); the rows of
parts and defects, small beside them, are always written.

Deleting images leaves their rows; the log remembers up to when images were removed, and why, so
the history can say "pruned" rather than "missing".
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from inspector.errors import ConfigError
from inspector.storage.models import Meta

log = logging.getLogger(__name__)

PRUNED_BEFORE, PRUNED_WHY = "images_pruned_before", "images_pruned_why"
DAY_S = 86_400.0


@dataclass(frozen=True)
class DiskBudget:
    keep_days: float | None = 30.0  # images older than this are deleted; None keeps them for ever
    min_free_mb: float = 500.0  # below this much free space, old images go, then no new ones are saved

    def __post_init__(self) -> None:
        if self.keep_days is not None and not 0 < self.keep_days < 100_000:
            raise ConfigError(f"--keep-images must be a number of days above 0, got {self.keep_days}")
        if not 0 <= self.min_free_mb < 2**40:
            raise ConfigError(f"--min-free must be a number of MB, 0 or more, got {self.min_free_mb}")


@dataclass(frozen=True, slots=True)
class Pruned:
    """Images up to ``before`` (UTC) were deleted, for ``why``."""

    before: datetime
    why: str


def images_pruned(engine: Engine) -> Pruned | None:
    with Session(engine) as session:
        before, why = session.get(Meta, PRUNED_BEFORE), session.get(Meta, PRUNED_WHY)
    if before is None:
        return None
    return Pruned(datetime.fromisoformat(before.value), why.value if why else "")


class ImageKeeper:
    """Used by the defect writer's thread only: asked before each image is saved, and now and
    then to delete what the retention no longer keeps."""

    def __init__(
        self, engine: Engine, media: Path, budget: DiskBudget, report: Callable[[str], None]
    ) -> None:
        self.engine = engine
        self.media = media
        self.budget = budget
        self._report = report
        self._short = False  # free space is below the floor: said once until it recovers
        self.skipped = 0  # images not saved for want of space

    def free_mb(self) -> float:
        folder = self.media
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        return shutil.disk_usage(folder).free / 2**20

    def may_save(self) -> bool:
        """Whether an image may be written now: below the floor the oldest images go first; while
        that is not enough, no image is saved (its defect still is)."""
        floor = self.budget.min_free_mb
        if floor <= 0 or self.free_mb() >= floor:
            if self._short:
                self._short = False
                log.info("free space back above %.0f MB on %s: images are saved again", floor, self.media)
            return True
        self._prune_for_space(floor)
        if self.free_mb() >= floor:
            return True
        self.skipped += 1
        if not self._short:
            self._short = True
            log.warning("free space below %.0f MB on %s: defect images are not saved", floor, self.media)
            self._report(
                f"free space below {floor:.0f} MB on {self.media.parent}: defect images are not saved, "
                "defects still are"
            )
        return False

    def prune_old(self, now: float | None = None) -> int:
        """Delete the images older than the retention keeps; returns how many."""
        if self.budget.keep_days is None:
            return 0
        limit = (time.time() if now is None else now) - self.budget.keep_days * DAY_S
        old = [(t, p) for t, p in self._images() if t < limit]
        return self._delete(old, f"older than {self.budget.keep_days:g} days")

    def _prune_for_space(self, floor: float) -> None:
        """The oldest images, until free space is back above the floor with a little room to spare
        (5 % of the floor, 1 to 64 MB), so pruning comes in steps, not image by image, and a small
        disk keeps most of its images."""
        images = self._images()
        target = floor + min(64.0, max(1.0, floor * 0.05))
        need_mb = target - self.free_mb()
        batch, freed = [], 0.0
        for t, path in images:
            if freed >= need_mb:
                break
            try:
                freed += path.stat().st_size / 2**20
            except OSError:
                continue
            batch.append((t, path))
        self._delete(batch, f"free space below {floor:.0f} MB")

    def _images(self) -> list[tuple[float, Path]]:
        """Every saved image with its time, oldest first."""
        out = []
        for path in self.media.glob("run-*/*.jpg"):
            try:
                out.append((path.stat().st_mtime, path))
            except OSError:
                continue
        out.sort()
        return out

    def _delete(self, images: list[tuple[float, Path]], why: str) -> int:
        if not images:
            return 0
        deleted, newest = 0, 0.0
        for t, path in images:
            try:
                path.unlink()
            except OSError:
                continue
            deleted += 1
            newest = max(newest, t)
        for folder in {path.parent for _, path in images}:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only once empty
        if deleted:
            self._remember(newest, why)
            log.info("%d defect images deleted (%s), the oldest first; their rows are kept", deleted, why)
        return deleted

    def _remember(self, newest: float, why: str) -> None:
        before = datetime.fromtimestamp(newest, UTC).replace(tzinfo=None, microsecond=0)
        with Session(self.engine) as session:
            known = session.get(Meta, PRUNED_BEFORE)
            if known is None or datetime.fromisoformat(known.value) < before:
                session.merge(Meta(key=PRUNED_BEFORE, value=before.isoformat()))
                session.merge(Meta(key=PRUNED_WHY, value=why))
            session.commit()
