"""Errors the executor raises on purpose (all under :class:`~schemas.errors.FundingflowError`)."""

from __future__ import annotations

from schemas.errors import FundingflowError


class LedgerError(FundingflowError):
    """The intent ledger refused an operation or cannot be used."""


class DuplicateSubmission(LedgerError):  # noqa: N818 - names the refused thing
    """An intent with this client order id is already recorded: the order is never sent twice."""

    def __init__(self, client_order_id: str) -> None:
        super().__init__(f"client order id {client_order_id} is already in the ledger")
        self.client_order_id = client_order_id


class UnknownOrder(LedgerError):  # noqa: N818
    """No intent is recorded under this client order id."""

    def __init__(self, client_order_id: str) -> None:
        super().__init__(f"no intent recorded under client order id {client_order_id}")
        self.client_order_id = client_order_id


class ForeignClientId(LedgerError):  # noqa: N818
    """A client order id that is not derived from its (decision, leg, slice, purpose)."""


class LedgerNotMigrated(LedgerError):  # noqa: N818
    """The database lacks the ledger's migrations (``fundingflow db migrate``)."""
