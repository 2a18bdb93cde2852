"""Tradable sizes by hand: contract sizes, steps and minimums of two venues."""

from __future__ import annotations

from decimal import Decimal

import pytest

from processors.lots import Lot
from processors.lots import common_step
from processors.lots import tradable_size

D = Decimal


def test_issue_case_hundredth_btc_contracts_against_whole_btc_contracts() -> None:
    # okx-style 0.01 BTC per contract, step 1 contract; a venue with 1 BTC per contract.
    small = Lot(D("0.01"), amount_step=D(1), min_amount=D(1))
    whole = Lot(D(1), amount_step=D(1), min_amount=D(1))
    size = tradable_size(D("1.665973"), [small, whole], [D(60_000), D(60_010)])
    assert size == D(1)
    assert small.contracts(size) == 100
    assert whole.contracts(size) == 1


def test_smaller_common_size_wins_and_is_a_multiple_of_both_steps() -> None:
    a = Lot(D(1), amount_step=D("0.3"))
    b = Lot(D(1), amount_step=D("0.2"))
    assert common_step([D("0.3"), D("0.2")]) == D("0.6")
    assert tradable_size(D("1.9"), [a, b], [D(1), D(1)]) == D("1.8")


def test_size_rounding_to_zero_is_no_trade() -> None:
    whole = Lot(D(1), amount_step=D(1))
    assert tradable_size(D("0.99"), [whole, None], [D(10), D(10)]) == 0


def test_minimum_amount_and_notional_refuse_small_sizes() -> None:
    lot = Lot(D(1), amount_step=D("0.001"), min_amount=D("0.01"), min_notional_quote=D(100))
    assert tradable_size(D("0.005"), [lot], [D(50_000)]) == 0  # below min amount
    assert tradable_size(D("0.01"), [lot], [D(5_000)]) == 0  # 50 quote < 100 minimum
    assert tradable_size(D("0.0109"), [lot], [D(50_000)]) == D("0.010")


def test_unknown_lots_take_any_size() -> None:
    assert tradable_size(D("1.665973"), [None, None], [D(1), D(1)]) == D("1.665973")


def test_contract_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="contract size"):
        Lot(D(0))
    with pytest.raises(ValueError, match="amount_step"):
        Lot(D(1), amount_step=D(-1))
