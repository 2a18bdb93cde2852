"""Deterministic client order ids: one canonical 128-bit id per (decision, leg, slice, purpose).

The purpose is :class:`~schemas.records.execution.OrderPurpose` (``ENTRY``, ``UNWIND``,
``CLOSE``): the unwind of a slice is another order than its entry, with its own id.

A redelivered decision must produce the *same* id, so a resend is recognised by the intent
ledger and by the venue instead of placing a second order. The id is
``uuid5(NAMESPACE, preimage)`` where the preimage is an unambiguous text of the key (the
decision id is length-prefixed, so no two keys share a preimage). What remains is the hash:
uuid5 keeps 122 of SHA-1's bits (6 are the version and variant), so the chance that any two of
``n`` distinct keys collide is at most ``n**2 / 2**123``: below 1e-19 for a billion orders.

No single text is accepted by every venue: OKX takes at most 32 alphanumerics, Gate demands a
``t-`` prefix and at most 28 characters, Hyperliquid exactly ``0x`` plus 32 hex digits. So the
canonical text is the 32 lowercase hex digits (``ClientOrderId.hex``, what the ledger and the
``exec.*`` records carry), and :func:`render` writes the venue's spelling of the same 128 bits;
:func:`parse` reads it back, so an order a venue reports maps to its canonical id.

Venue rules (from each venue's order API documentation and the checks ccxt makes):

| venue | field | rule |
| --- | --- | --- |
| binance, binanceusdm | newClientOrderId | ``^[.A-Z:/a-z0-9_-]{1,36}$`` |
| okx | clOrdId | 1-32 case-sensitive alphanumerics |
| bybit | orderLinkId | at most 36: letters, digits, ``-``, ``_`` |
| bitget | clientOid | at most 40 (``[0-9A-Za-z_:#+-]``) |
| kucoin, kucoinfutures | clientOid | at most 40: letters, digits, ``_``, ``-`` |
| kraken | cl_ord_id | a UUID, or 32 hex digits (short UUID), or up to 18 characters of free text |
| gate | text | ``t-`` then at most 26 more of ``[0-9A-Za-z_.-]`` (ccxt: whole text <= 28) |
| hyperliquid | cloid | ``0x`` then 32 hex digits (128 bits) |
| sim | clientOrderId | the binance rule (the simulated venue speaks binance's dialect) |
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from enum import Enum

from schemas.errors import FundingflowError
from schemas.records.execution import OrderPurpose

NAMESPACE = uuid.UUID("6c1f6e64-7c0b-5d7e-9b1a-2f0c3d4e5a61")
"""Fixed namespace of fundingflow's order ids; changing it changes every id."""

UUID_BITS = 122
"""Bits of the id that come from the hash (uuid5 fixes 6 of the 128)."""

_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_BASE36_WIDTH = 25
"""36**25 > 2**128: every 128-bit id fits 25 base-36 digits."""


class Spelling(Enum):
    """How a venue writes the 128 bits of an id."""

    HEX = "hex"
    """32 lowercase hex digits."""
    HEX_0X = "hex_0x"
    """``0x`` then 32 lowercase hex digits (Hyperliquid's cloid)."""
    GATE = "gate"
    """``t-`` then 25 lowercase base-36 digits (27 characters)."""


@dataclass(frozen=True, slots=True)
class VenueIdRule:
    """What one venue accepts as a client order id."""

    pattern: re.Pattern[str]
    max_length: int
    spelling: Spelling

    def accepts(self, text: str) -> bool:
        return len(text) <= self.max_length and self.pattern.fullmatch(text) is not None


_BINANCE = VenueIdRule(re.compile(r"[.A-Z:/a-z0-9_-]{1,36}"), 36, Spelling.HEX)
_KUCOIN = VenueIdRule(re.compile(r"[A-Za-z0-9_-]{1,40}"), 40, Spelling.HEX)
VENUE_RULES: dict[str, VenueIdRule] = {
    "binance": _BINANCE,
    "binanceusdm": _BINANCE,
    "sim": _BINANCE,
    "okx": VenueIdRule(re.compile(r"[A-Za-z0-9]{1,32}"), 32, Spelling.HEX),
    "bybit": VenueIdRule(re.compile(r"[A-Za-z0-9_-]{1,36}"), 36, Spelling.HEX),
    "bitget": VenueIdRule(re.compile(r"[0-9A-Za-z_:#+-]{1,40}"), 40, Spelling.HEX),
    "kucoin": _KUCOIN,
    "kucoinfutures": _KUCOIN,
    "kraken": VenueIdRule(re.compile(r"[0-9a-f]{32}|.{1,18}"), 36, Spelling.HEX),
    "gate": VenueIdRule(re.compile(r"t-[0-9A-Za-z_.-]{1,26}"), 28, Spelling.GATE),
    "hyperliquid": VenueIdRule(re.compile(r"0x[0-9a-f]{32}"), 34, Spelling.HEX_0X),
}
"""Client id rule per ccxt exchange id; a venue not listed gets :data:`DEFAULT_RULE`."""

DEFAULT_RULE = VenueIdRule(re.compile(r"[A-Za-z0-9]{1,32}"), 32, Spelling.HEX)
"""The strictest common rule (OKX's): 32 alphanumerics."""


class InvalidOrderKey(FundingflowError, ValueError):  # noqa: N818 - names the refused input
    """A key that cannot name an order (negative index, UNKNOWN purpose, empty decision id)."""


@dataclass(frozen=True, slots=True)
class OrderKey:
    """What an order is: one slice of one leg of one decision, for one purpose."""

    decision_id: str
    leg: int
    slice: int
    purpose: OrderPurpose = OrderPurpose.ENTRY

    def __post_init__(self) -> None:
        if not self.decision_id:
            raise InvalidOrderKey("decision_id is empty")
        if self.leg < 0 or self.slice < 0:
            raise InvalidOrderKey(f"leg and slice must be >= 0, were {self.leg}, {self.slice}")
        if not isinstance(self.purpose, OrderPurpose) or self.purpose is OrderPurpose.UNKNOWN:
            raise InvalidOrderKey(f"purpose {self.purpose!r} is not a known order purpose")

    def preimage(self) -> str:
        """Unambiguous text of the key: distinct keys have distinct preimages."""
        head = f"{len(self.decision_id)}:{self.decision_id}"
        return f"{head}|{self.leg}|{self.slice}|{self.purpose.value}"


@dataclass(frozen=True, slots=True, order=True)
class ClientOrderId:
    """The canonical id: 128 bits, written as 32 lowercase hex digits."""

    value: int

    def __post_init__(self) -> None:
        if not 0 <= self.value < 1 << 128:
            raise ValueError(f"client order id out of 128 bits: {self.value}")

    @property
    def hex(self) -> str:
        return f"{self.value:032x}"

    def __str__(self) -> str:
        return self.hex


def client_order_id(key: OrderKey) -> ClientOrderId:
    """The canonical id of ``key``: the same key gives the same id, in every process."""
    return ClientOrderId(uuid.uuid5(NAMESPACE, key.preimage()).int)


def venue_rule(venue: str) -> VenueIdRule:
    """The client id rule of a ccxt exchange id."""
    return VENUE_RULES.get(venue, DEFAULT_RULE)


def render(cid: ClientOrderId, venue: str) -> str:
    """The venue's spelling of ``cid`` (what goes into the create-order request)."""
    spelling = venue_rule(venue).spelling
    if spelling is Spelling.HEX_0X:
        return "0x" + cid.hex
    if spelling is Spelling.GATE:
        digits, value = [], cid.value
        for _ in range(_BASE36_WIDTH):
            value, digit = divmod(value, 36)
            digits.append(_BASE36[digit])
        return "t-" + "".join(reversed(digits))
    return cid.hex


def parse(text: str, venue: str) -> ClientOrderId | None:
    """The canonical id a venue's client id spells, or None when it is not one of ours."""
    spelling = venue_rule(venue).spelling
    if spelling is Spelling.HEX_0X:
        body, digits = text.removeprefix("0x"), 16
        if body == text:
            return None
    elif spelling is Spelling.GATE:
        body, digits = text.removeprefix("t-"), 36
        if body == text or len(body) != _BASE36_WIDTH:
            return None
    else:
        body, digits = text, 16
    alphabet = _BASE36[:digits]
    if digits == 16 and len(body) != 32:
        return None
    if any(ch not in alphabet for ch in body):
        return None
    value = int(body, digits)
    return ClientOrderId(value) if value < 1 << 128 else None
