"""Tables of the defect log. Times are stored in UTC."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from inspector.detections import FIRST_CAMERA

SCHEMA_VERSION = 4  # the migrations in inspector/storage/migrations lead to it


class Base(DeclarativeBase):
    pass


class Meta(Base):
    """Key/value facts about the database itself (its schema version)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


class Run(Base):
    """One start-to-stop of the line: what was inspected, with which model and settings."""

    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    source: Mapped[str] = mapped_column(String(512))
    model_path: Mapped[str] = mapped_column(String(1024))
    model_sha256: Mapped[str | None] = mapped_column(String(64))
    backend: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(128))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    frames: Mapped[int] = mapped_column(Integer, default=0)
    defects: Mapped[list[Defect]] = relationship(back_populates="run")
    parts: Mapped[list[Part]] = relationship(back_populates="run")
    events: Mapped[list[RunEvent]] = relationship(back_populates="run")


class RunEvent(Base):
    """Something that changed during a run, from a frame on: ``kind`` "backend" says which backend
    (``detail``) inspected the frames from ``frame_index`` until the next such event."""

    __tablename__ = "run_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    frame_index: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(String(256))
    run: Mapped[Run] = relationship(back_populates="events")


class Part(Base):
    """One part that passed the camera, decided once: OK, or NG with ``defect_classes`` (sorted,
    comma-separated). ``x1..y2`` is its box on ``best_frame``, the frame that showed the most of
    it; ``image_path`` (relative to the database's folder; kept for NG parts) shows it there, its
    top-left corner at ``image_x, image_y`` in frame pixels. ``part`` is its number in its run on
    its ``camera`` (each camera of a line tracks its own parts)."""

    __tablename__ = "parts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    part: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(128))
    verdict: Mapped[str] = mapped_column(String(8), index=True)
    defect_classes: Mapped[str] = mapped_column(String(512), default="")
    first_seen_at: Mapped[datetime] = mapped_column(DateTime)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime)
    decided_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    first_frame: Mapped[int] = mapped_column(Integer)
    last_frame: Mapped[int] = mapped_column(Integer)
    best_frame: Mapped[int] = mapped_column(Integer)
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)
    backend: Mapped[str] = mapped_column(String(64))
    image_path: Mapped[str | None] = mapped_column(String(1024), default=None)
    image_x: Mapped[int] = mapped_column(Integer, default=0)
    image_y: Mapped[int] = mapped_column(Integer, default=0)
    camera: Mapped[str] = mapped_column(String(64), default=FIRST_CAMERA)
    run: Mapped[Run] = relationship(back_populates="parts")
    defects: Mapped[list[Defect]] = relationship(back_populates="part")

    __table_args__ = (Index("ix_parts_run_camera_part", "run_id", "camera", "part"),)


class Defect(Base):
    """One physical defect, tracked over ``frames`` frames (``first_frame`` to ``last_frame``),
    on ``part_id`` (none: it lay on no part, or it is a row of the "log every frame" audit, where
    ``frames`` is empty and each row is one frame's sighting; schema 1's rows are such rows).
    ``confidence`` is its best; ``detected_at`` the time of that best sighting. ``x1..y2`` is where
    it lies on ``frame_index``, the frame its image shows: ``image_path`` (relative to the
    database's folder) is a JPEG whose top-left corner sits at ``image_x, image_y`` in frame
    pixels (for a defect on a part, its part's image). ``camera`` is the camera that saw it."""

    __tablename__ = "defects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    detected_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    frame_index: Mapped[int] = mapped_column(Integer)
    class_name: Mapped[str] = mapped_column(String(128), index=True)
    confidence: Mapped[float] = mapped_column(Float, index=True)
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)
    backend: Mapped[str] = mapped_column(String(64))
    image_path: Mapped[str | None] = mapped_column(String(1024), default=None)
    image_x: Mapped[int] = mapped_column(Integer, default=0)
    image_y: Mapped[int] = mapped_column(Integer, default=0)
    part_id: Mapped[int | None] = mapped_column(ForeignKey("parts.id"), index=True, default=None)
    frames: Mapped[int | None] = mapped_column(Integer, default=None)
    first_frame: Mapped[int | None] = mapped_column(Integer, default=None)
    last_frame: Mapped[int | None] = mapped_column(Integer, default=None)
    camera: Mapped[str] = mapped_column(String(64), default=FIRST_CAMERA, index=True)
    run: Mapped[Run] = relationship(back_populates="defects")
    part: Mapped[Part | None] = relationship(back_populates="defects")

    __table_args__ = (Index("ix_defects_run_time", "run_id", "detected_at"),)


class OutboxMessage(Base):
    """A message for the plant's broker, kept until the broker acknowledged it (store and forward)."""

    __tablename__ = "outbox"
    # ids only grow (a deleted id is never reused): the sender tells new messages by their id
    __table_args__: ClassVar[dict[str, bool]] = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    topic: Mapped[str] = mapped_column(String(1024))
    payload: Mapped[str] = mapped_column(Text)
