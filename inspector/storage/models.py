"""Tables of the defect log. Times are stored in UTC."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

SCHEMA_VERSION = 1


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


class Defect(Base):
    """One defect seen on one frame. ``image_path`` (relative to the database's folder) holds a
    JPEG whose top-left corner sits at ``image_x, image_y`` in frame pixels."""

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
    run: Mapped[Run] = relationship(back_populates="defects")

    __table_args__ = (Index("ix_defects_run_time", "run_id", "detected_at"),)
