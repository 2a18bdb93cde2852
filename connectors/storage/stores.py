"""What a sink writes to: the store protocol, its errors and one consumed event."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from schemas.avro_record import AvroRecord
from schemas.errors import FundingflowError


class StoreUnavailable(FundingflowError):  # noqa: N818 - names the state, like InvalidEvent
    """The store cannot be reached or refused for a transient reason; the batch is not durable.

    The sink commits nothing, stops consuming and retries with backoff."""


class StoreRejected(FundingflowError):  # noqa: N818
    """The store refused the batch for a reason a retry cannot cure (schema, constraint)."""


@dataclass(frozen=True, slots=True)
class Consumed:
    """One decoded event and where it came from (``topic`` is the catalogue name), with the
    message as Kafka held it (its record timestamp, key and framed value), which the stores keep
    so that a replay from the store re-publishes the same bytes."""

    record: AvroRecord
    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None = None
    """The Kafka record timestamp (None: not known)."""
    key: bytes | None = None
    value: bytes = b""
    """The Confluent-framed Avro value as consumed (schema id embedded)."""


class Store(Protocol):
    """A database a sink writes batches to; a returned :meth:`write` means durable."""

    name: str

    def open(self) -> None:
        """Connect and make sure the tables exist; :class:`StoreUnavailable` when it cannot."""
        ...

    def write(self, batch: Sequence[Consumed]) -> dict[str, int]:
        """Write ``batch`` idempotently and durably; rows handed over per table."""
        ...

    def close(self) -> None: ...
