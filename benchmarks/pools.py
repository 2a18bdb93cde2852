"""Encoded ticks for the benchmarks, fast: a pool of encoded books re-stamped per tick.

Building and encoding a book takes about 0.4 ms (Decimal levels, fixed-point columns, Avro),
so 10M ticks cannot be built one by one. A :class:`Stamper` encodes one template book once and
then writes only its envelope anew (event id, event and ingest time, sequence: the leading
fields of the record, so the rest of the bytes are copied): a new tick is a few bytes joined to
the template's tail, and it decodes to the template with the new envelope.
"""

from __future__ import annotations

from decimal import Decimal

from benchmarks import synthetic as syn
from schemas.codec import Codec
from schemas.records.md import BookSnapshot
from schemas.records.md import FundingRateUpdate
from schemas.topics import MD_BOOK
from schemas.topics import MD_FUNDING
from schemas.topics import key_for

VENUES = ("ex-a", "ex-b", "ex-c")
MIDS = 50


def avro_long(n: int) -> bytes:
    """Avro ``long``: zigzag, then base-128 varint."""
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z & ~0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def _envelope_bytes(event_id: str, t_ms: int, seq: int) -> bytes:
    raw = event_id.encode()
    return avro_long(len(raw)) + raw + avro_long(t_ms) + avro_long(t_ms) + b"\x02" + avro_long(seq)


def tick_id(i: int, salt: int = 0) -> str:
    """A distinct event id per tick (UUID text form, cheap)."""
    return f"{i & 0xFFFFFFFF:08x}-{(i >> 32) & 0xFFFF:04x}-4000-8000-{salt & 0xFFFFFFFFFFFF:012x}"


class Stamper:
    """One encoded template record (a book or a funding update, sequenced);
    ``stamp(i, t_ms, seq)`` is the same record as a new event."""

    def __init__(self, codec: Codec, record: BookSnapshot | FundingRateUpdate, topic: str) -> None:
        env = record.envelope
        assert env.source_seq is not None
        raw = codec.encode(record, topic)
        prefix = _envelope_bytes(env.event_id, env.event_time_ms, env.source_seq)
        at = raw.find(prefix)
        if at < 0:
            raise ValueError("the envelope is not the leading field of the encoded book")
        self.head, self.tail = raw[:at], raw[at + len(prefix) :]
        self.key = key_for(record)

    def stamp(self, i: int, t_ms: int, seq: int, salt: int = 0) -> bytes:
        return self.head + _envelope_bytes(tick_id(i, salt), t_ms, seq) + self.tail


class TickPool:
    """Book ticks over ``assets`` assets x 3 venues x 50 mids (the top of book always moves
    between consecutive ticks of one instrument); templates are built on first use."""

    def __init__(self, codec: Codec, assets: int, prefix: str = "B") -> None:
        self.codec, self.assets, self.prefix = codec, assets, prefix
        self._stampers: dict[tuple[int, int, int], Stamper] = {}

    def stamper(self, i: int) -> Stamper:
        slot = (i % self.assets, (i // self.assets) % 3, i % MIDS)
        stamper = self._stampers.get(slot)
        if stamper is None:
            asset, venue, mid = slot
            symbol = f"{self.prefix}{asset:03d}/USDT:USDT"
            price = Decimal(100) + Decimal(mid) / 100
            record = syn.book(VENUES[venue], symbol, price, 1, 1)
            stamper = self._stampers[slot] = Stamper(self.codec, record, MD_BOOK)
        return stamper

    def ticks(self, n: int, start_ms: int, seq0: int = 0) -> list[tuple[bytes, bytes]]:
        """``n`` (key, value) ticks; tick ``i`` at ``start_ms + i // 10`` with sequence
        ``seq0 + i + 1`` (pass a larger ``seq0``/``start_ms`` for a later run: newer ticks)."""
        out = []
        for i in range(n):
            s = self.stamper(i)
            out.append((s.key, s.stamp(seq0 + i, start_ms + i // 10, seq0 + i + 1)))
        return out


FUNDING_RATES = ("0.0001", "0.0003", "0.0012", "0.002")


class MarketPool:
    """Market events like a live stream's: per ``funding_every`` events one funding update
    (rates cycling over four values per venue, so carries open and close), books otherwise;
    ``assets`` assets x 3 venues, event time ``step_ms`` apart (the reducer evaluates an asset
    at most every 250 ms of event time)."""

    def __init__(self, codec: Codec, assets: int, *, funding_every: int = 10) -> None:
        self.books = TickPool(codec, assets, prefix="M")
        self.codec, self.assets, self.funding_every = codec, assets, funding_every
        self._funding: dict[tuple[int, int, int], Stamper] = {}

    def _funding_stamper(self, asset: int, venue: int, rate: int) -> Stamper:
        slot = (asset, venue, rate)
        stamper = self._funding.get(slot)
        if stamper is None:
            symbol = f"M{asset:03d}/USDT:USDT"
            record = syn.funding(VENUES[venue], symbol, FUNDING_RATES[rate], 1, 1)
            stamper = self._funding[slot] = Stamper(self.codec, record, MD_FUNDING)
        return stamper

    def event(self, i: int, t_ms: int) -> tuple[str, bytes, bytes]:
        """Event ``i`` (sequence ``i + 1``) at ``t_ms``: (topic, key, value)."""
        if i % self.funding_every == 0:
            j = i // self.funding_every
            asset, venue = j % self.assets, (j // self.assets) % 3
            rate = (j // (3 * self.assets * 50) + venue) % len(FUNDING_RATES)
            s = self._funding_stamper(asset, venue, rate)
            return MD_FUNDING, s.key, s.stamp(i, t_ms, i + 1, 1)
        s = self.books.stamper(i)
        return MD_BOOK, s.key, s.stamp(i, t_ms, i + 1, 2)
