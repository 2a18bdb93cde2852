"""The executor's portfolio: holdings from the ledger's fills, published to ``portfolio.*``.

Holdings are never stored apart from the ledger: every fill is stated again from
``order_transitions`` (``executors.outbox``), so the book after a restart is the fold of the
same fills (``processors.portfolio``). Funding settlements are booked as the venues paid
them (``executors.funding_sync``; stored in ``funding_settlements`` and folded again on load),
to the whole book, not to a pair. Each new fill publishes its ``portfolio.position``
record; :meth:`Portfolio.snapshots` gives a ``portfolio.pnl`` record for the whole book and one
per pair (scope = the signal id), with slippage measured from the pair legs' expected prices.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from collections.abc import Mapping
from decimal import Decimal

from executors.funding_store import FundingStore
from executors.ledger import Ledger
from executors.outbox import fill_record
from executors.outbox import order_changes
from executors.pair_store import PairStore
from processors.portfolio import Holding
from processors.portfolio import Key
from processors.portfolio import apply
from processors.portfolio import key_of
from processors.portfolio import slippage_of
from processors.portfolio import snapshot
from schemas.records.execution import Fill
from schemas.records.execution import OrderPurpose
from schemas.records.execution import SubmitOrder
from schemas.records.portfolio import FundingPaid
from schemas.records.portfolio import PnlSnapshot
from schemas.records.portfolio import PositionChanged

PORTFOLIO_SCOPE = "portfolio"
ZERO = Decimal(0)


class Portfolio:
    def __init__(
        self,
        ledger: Ledger,
        pairs: PairStore,
        quote_currency: str = "USDT",
        order_of: Callable[[str], SubmitOrder] | None = None,
    ) -> None:
        self.ledger = ledger
        self.order_of = order_of or ledger.submitted
        self._expected: dict[tuple[str, int], Decimal | None] = {}
        self.pairs = pairs
        self.quote_currency = quote_currency
        self.total: dict[Key, Holding] = {}
        self.by_signal: defaultdict[str, dict[Key, Holding]] = defaultdict(dict)
        self.slippage: defaultdict[str, Decimal] = defaultdict(Decimal)
        self.last_price: dict[Key, Decimal] = {}
        self._signal_of: dict[str, tuple[str, int, OrderPurpose]] = {}

    def load(self, *, published_only: bool = True, signals: list[str] | None = None) -> int:
        """Fold the ledger's fills (those already published, when the outbox will publish the
        rest through :meth:`on_fill`; only these signals'); the number folded."""
        n = 0
        changes = order_changes(
            self.ledger.conn, unpublished_only=False, limit=10_000_000, signals=signals
        )
        for change in changes:
            fill = fill_record(change)
            if fill is None:
                continue
            if published_only and not self._published(change.client_order_id, change.seq):
                continue
            self.on_fill(fill)
            n += 1
        if signals is None:  # funding is booked to the book, not to a pair
            for settlement in FundingStore(self.ledger.conn).settlements():
                self.on_funding(settlement.paid)
        return n

    def _published(self, cid: str, seq: int) -> bool:
        row = self.ledger.conn.execute(
            "SELECT published FROM order_transitions WHERE client_order_id = %s AND seq = %s",
            (cid, seq),
        ).fetchone()
        return bool(row and row[0])

    def _order(self, cid: str) -> tuple[str, int, OrderPurpose]:
        known = self._signal_of.get(cid)
        if known is None:
            order = self.order_of(cid)
            known = self._signal_of[cid] = (order.signal_id, order.leg_index, order.purpose)
        return known

    def on_fill(self, fill: Fill) -> tuple[PositionChanged, ...]:
        """Book one fill; the position record of the change."""
        self.total, changes = apply(self.total, fill)
        signal, leg, purpose = self._order(fill.client_order_id)
        self.by_signal[signal], _ = apply(self.by_signal[signal], fill)
        self.last_price[key_of(fill.instrument)] = fill.price
        if purpose is OrderPurpose.ENTRY:
            if (signal, leg) not in self._expected:
                pair = self.pairs.get(signal)
                for i, pleg in enumerate(pair.legs if pair is not None else ()):
                    self._expected[(signal, i)] = pleg.expected_price
            expected = self._expected.get((signal, leg))
            if expected is not None:
                self.slippage[signal] += slippage_of(fill, expected)
        return changes

    def on_funding(self, paid: FundingPaid) -> None:
        """Book one settlement as the venue paid it (once per settlement time)."""
        self.total, _ = apply(self.total, paid)

    def snapshots(self, marks: Mapping[Key, Decimal], at_ms: int) -> list[PnlSnapshot]:
        """The book's PnL and each pair's; a holding without a mark is valued at its last fill."""
        prices = {**self.last_price, **marks}
        out = [
            snapshot(
                self.total,
                prices,
                scope=PORTFOLIO_SCOPE,
                at_ms=at_ms,
                quote_currency=self.quote_currency,
                slippage_quote=sum(self.slippage.values(), ZERO),
            )
        ]
        for signal, holdings in sorted(self.by_signal.items()):
            out.append(
                snapshot(
                    holdings,
                    prices,
                    scope=signal,
                    at_ms=at_ms,
                    quote_currency=self.quote_currency,
                    slippage_quote=self.slippage[signal],
                )
            )
        return out
