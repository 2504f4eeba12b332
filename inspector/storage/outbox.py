"""The outbox: messages for the broker, written to the station's database before they are sent and
deleted only once the broker acknowledged them, so an outage or a restart loses none."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from inspector.storage.models import OutboxMessage
from inspector.storage.writer import utc_now


@dataclass(frozen=True, slots=True)
class Pending:
    id: int
    topic: str
    payload: str


class Outbox:
    """Used by one thread (the MQTT link's); the database serialises it with the defect writer."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, messages: Iterable[tuple[str, str]]) -> list[int]:
        """``(topic, payload)`` pairs, committed together; returns their ids."""
        with Session(self.engine) as session:
            now = utc_now()
            rows = [OutboxMessage(created_at=now, topic=t, payload=p) for t, p in messages]
            session.add_all(rows)
            session.commit()
            return [row.id for row in rows]

    def after(self, last_id: int, limit: int) -> list[Pending]:
        """The oldest messages past ``last_id``, in the order they were added."""
        newer = select(OutboxMessage).where(OutboxMessage.id > last_id)
        query = newer.order_by(OutboxMessage.id).limit(limit)
        with Session(self.engine) as session:
            return [Pending(m.id, m.topic, m.payload) for m in session.scalars(query)]

    def remove(self, ids: Iterable[int]) -> None:
        ids = list(ids)
        if ids:
            with Session(self.engine) as session:
                session.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(ids)))
                session.commit()

    def count(self) -> int:
        with Session(self.engine) as session:
            return session.scalar(select(func.count()).select_from(OutboxMessage)) or 0
