"""The order state machine, one transition at a time."""

from __future__ import annotations

from decimal import Decimal

import pytest

from processors.orders import LOST_AFTER_NOT_FOUND
from processors.orders import Ambiguous
from processors.orders import FetchByClientId
from processors.orders import FillDelta
from processors.orders import NotFound
from processors.orders import NotSent
from processors.orders import OrderState
from processors.orders import PresumedLost
from processors.orders import RefusalCode
from processors.orders import Refused
from processors.orders import Report
from processors.orders import Sent
from processors.orders import StatusChanged
from processors.orders import VenueReport
from processors.orders import apply
from processors.orders import new_order
from schemas.records.execution import OrderStatus as S

D = Decimal
CID = "0" * 31 + "1"


def run(*reports: Report, size: str = "2") -> OrderState:
    state = new_order(CID, D(size))
    for report in reports:
        state, outputs = apply(state, report)
        assert not any(isinstance(o, Refused) for o in outputs), outputs
    return state


def submitted() -> OrderState:
    return run(Sent())


def accepted() -> OrderState:
    return run(Sent(), VenueReport(S.ACCEPTED, venue_order_id="v1"))


def partial() -> OrderState:
    return run(Sent(), VenueReport(S.PARTIALLY_FILLED, D("0.5"), D(100), "v1"))


def refusal(state: OrderState, report: Report) -> RefusalCode:
    after, outputs = apply(state, report)
    assert after == state
    assert len(outputs) == 1
    assert isinstance(outputs[0], Refused)
    return outputs[0].code


def test_a_new_order_starts_new_and_empty() -> None:
    state = new_order(CID, D(2))
    assert (state.status, state.filled_base, state.venue_order_id) == (S.NEW, D(0), None)
    with pytest.raises(ValueError, match="positive"):
        new_order(CID, D(0))


def test_new_to_submitted_on_send() -> None:
    state, outputs = apply(new_order(CID, D(2)), Sent())
    assert state.status is S.SUBMITTED
    assert outputs == (StatusChanged(S.NEW, S.SUBMITTED),)


def test_new_to_rejected_when_the_request_never_left() -> None:
    state, outputs = apply(new_order(CID, D(2)), NotSent("no connection"))
    assert (state.status, state.detail) == (S.REJECTED, "no connection")
    assert outputs == (StatusChanged(S.NEW, S.REJECTED),)


@pytest.mark.parametrize("make", [submitted, accepted, partial])
def test_a_second_send_is_refused_in_every_later_state(make: object) -> None:
    assert callable(make)
    assert refusal(make(), Sent()) is RefusalCode.RESUBMIT


def test_a_second_send_is_refused_while_unknown() -> None:
    assert refusal(run(Sent(), Ambiguous("timeout")), Sent()) is RefusalCode.RESUBMIT


def test_submitted_to_accepted_keeps_the_venue_id() -> None:
    state, outputs = apply(submitted(), VenueReport(S.ACCEPTED, venue_order_id="v1"))
    assert (state.status, state.venue_order_id) == (S.ACCEPTED, "v1")
    assert outputs == (StatusChanged(S.SUBMITTED, S.ACCEPTED),)


def test_a_bare_acknowledgement_reads_as_accepted() -> None:
    state, _ = apply(submitted(), VenueReport(S.SUBMITTED, venue_order_id="v1"))
    assert state.status is S.ACCEPTED


def test_accepted_to_partially_filled_emits_the_fill() -> None:
    report = VenueReport(S.PARTIALLY_FILLED, D("0.5"), D(100))
    state, outputs = apply(accepted(), report)
    assert (state.status, state.filled_base, state.average_price) == (
        S.PARTIALLY_FILLED,
        D("0.5"),
        D(100),
    )
    assert outputs == (StatusChanged(S.ACCEPTED, S.PARTIALLY_FILLED), FillDelta(D("0.5"), D(50)))


def test_an_open_report_with_a_fill_is_partially_filled() -> None:
    state, _ = apply(accepted(), VenueReport(S.ACCEPTED, D("0.5"), D(100)))
    assert state.status is S.PARTIALLY_FILLED


def test_partial_to_filled_emits_the_exact_increment() -> None:
    # 0.5 @ 100 then cumulative 2 @ 103: the increment 1.5 cost 206 - 50 = 156, i.e. 104
    state, outputs = apply(partial(), VenueReport(S.FILLED, D(2), D(103)))
    assert (state.status, state.filled_base) == (S.FILLED, D(2))
    fill = outputs[1]
    assert isinstance(fill, FillDelta)
    assert (fill.size_base, fill.notional_quote, fill.price) == (D("1.5"), D(156), D(104))


def test_a_complete_open_report_is_filled() -> None:
    state, _ = apply(partial(), VenueReport(S.PARTIALLY_FILLED, D(2), D(100)))
    assert state.status is S.FILLED


@pytest.mark.parametrize("final", [S.CANCELED, S.EXPIRED])
def test_partial_to_canceled_or_expired_keeps_the_fill(final: S) -> None:
    state, outputs = apply(partial(), VenueReport(final, D("0.5"), D(100)))
    assert (state.status, state.filled_base) == (final, D("0.5"))
    assert outputs == (StatusChanged(S.PARTIALLY_FILLED, final),)


def test_accepted_to_rejected_without_fills() -> None:
    state, _ = apply(accepted(), VenueReport(S.REJECTED, detail="post-only would cross"))
    assert (state.status, state.detail) == (S.REJECTED, "post-only would cross")


def test_a_reject_after_a_fill_is_refused() -> None:
    assert (
        refusal(partial(), VenueReport(S.REJECTED, D("0.5"), D(100)))
        is RefusalCode.INCONSISTENT_FILL
    )


def test_a_timeout_after_send_is_unknown_and_asks_for_a_fetch_not_a_resend() -> None:
    state, outputs = apply(submitted(), Ambiguous("ReadTimeout"))
    assert state.status is S.OUTCOME_UNKNOWN
    assert outputs == (StatusChanged(S.SUBMITTED, S.OUTCOME_UNKNOWN), FetchByClientId(CID))


def test_an_unknown_order_settles_by_the_venue_report() -> None:
    unknown = run(Sent(), Ambiguous("502"))
    state, outputs = apply(unknown, VenueReport(S.FILLED, D(2), D(100), "v9"))
    assert (state.status, state.venue_order_id) == (S.FILLED, "v9")
    assert outputs == (StatusChanged(S.OUTCOME_UNKNOWN, S.FILLED), FillDelta(D(2), D(200)))


def test_an_unknown_order_may_turn_out_rejected_only_by_the_venue() -> None:
    unknown = run(Sent(), Ambiguous("502"))
    state, _ = apply(unknown, Ambiguous("fetch timed out"))
    assert state.status is S.OUTCOME_UNKNOWN
    state, _ = apply(state, VenueReport(S.REJECTED, detail="insufficient margin"))
    assert state.status is S.REJECTED


def test_not_found_keeps_it_unknown_and_presumes_it_lost_after_enough_answers() -> None:
    state = run(Sent(), Ambiguous("timeout"))
    for count in range(1, LOST_AFTER_NOT_FOUND + 1):
        state, outputs = apply(state, NotFound())
        assert state.status is S.OUTCOME_UNKNOWN
        assert outputs[0] == FetchByClientId(CID)
        lost = [o for o in outputs if isinstance(o, PresumedLost)]
        assert lost == ([PresumedLost(CID, count)] if count >= LOST_AFTER_NOT_FOUND else [])
    state, _ = apply(state, VenueReport(S.ACCEPTED, venue_order_id="late"))
    assert (state.status, state.not_found) == (S.ACCEPTED, 0)  # still fillable, found late


def test_not_found_outside_unknown_is_refused() -> None:
    assert refusal(accepted(), NotFound()) is RefusalCode.ILLEGAL_TRANSITION


def test_an_ambiguous_answer_on_an_open_order_only_re_reads_it() -> None:
    state, outputs = apply(accepted(), Ambiguous("cancel timed out"))
    assert state == accepted()
    assert outputs == (FetchByClientId(CID),)


def test_a_stale_report_with_a_smaller_fill_is_refused() -> None:
    assert refusal(partial(), VenueReport(S.ACCEPTED)) is RefusalCode.FILL_REGRESSION


def test_an_overfill_is_refused() -> None:
    assert (
        refusal(accepted(), VenueReport(S.PARTIALLY_FILLED, D(3), D(100))) is RefusalCode.OVERFILL
    )


def test_filled_without_the_full_size_is_refused() -> None:
    assert refusal(accepted(), VenueReport(S.FILLED, D(1), D(100))) is RefusalCode.INCONSISTENT_FILL


def test_a_fill_without_a_price_is_refused() -> None:
    assert (
        refusal(accepted(), VenueReport(S.PARTIALLY_FILLED, D(1))) is RefusalCode.INCONSISTENT_FILL
    )


def test_an_average_implying_a_negative_increment_is_refused() -> None:
    report = VenueReport(S.PARTIALLY_FILLED, D("0.6"), D(80))  # 48 < 50 already paid
    assert refusal(partial(), report) is RefusalCode.INCONSISTENT_FILL


def test_a_different_venue_id_is_refused() -> None:
    assert (
        refusal(accepted(), VenueReport(S.ACCEPTED, venue_order_id="v2"))
        is RefusalCode.VENUE_ID_MISMATCH
    )


@pytest.mark.parametrize("status", [S.NEW, S.OUTCOME_UNKNOWN, S.UNKNOWN])
def test_a_status_no_venue_reports_is_refused(status: S) -> None:
    assert refusal(accepted(), VenueReport(status)) is RefusalCode.NOT_A_VENUE_STATUS


def test_the_venue_cannot_know_an_unsent_order() -> None:
    assert refusal(new_order(CID, D(2)), VenueReport(S.ACCEPTED)) is RefusalCode.ILLEGAL_TRANSITION


def test_nothing_sent_cannot_be_ambiguous_and_a_sent_order_cannot_fail_locally() -> None:
    assert refusal(new_order(CID, D(2)), Ambiguous("x")) is RefusalCode.ILLEGAL_TRANSITION
    assert refusal(submitted(), NotSent("x")) is RefusalCode.ILLEGAL_TRANSITION


def test_the_same_report_again_is_a_no_op() -> None:
    report = VenueReport(S.PARTIALLY_FILLED, D("0.5"), D(100), "v1")
    state = partial()
    assert apply(state, report) == (state, ())


def test_a_terminal_state_absorbs_its_own_report() -> None:
    final = VenueReport(S.FILLED, D(2), D(100), "v1")
    state = run(Sent(), final)
    assert apply(state, final) == (state, ())
    assert apply(state, VenueReport(S.FILLED, D(2))) == (state, ())  # fewer details, same fact
    rejected = run(NotSent("no route"))
    assert apply(rejected, NotSent("no route")) == (rejected, ())


@pytest.mark.parametrize(
    "report",
    [
        VenueReport(S.CANCELED, D(2), D(100)),
        VenueReport(S.FILLED, D(2), D(100), "v2"),
        VenueReport(S.ACCEPTED),
        Ambiguous("late timeout"),
        NotFound(),
        NotSent("x"),
    ],
)
def test_a_terminal_state_refuses_any_other_report(report: Report) -> None:
    state = run(Sent(), VenueReport(S.FILLED, D(2), D(100), "v1"))
    assert refusal(state, report) is RefusalCode.TERMINAL


def test_an_average_price_without_a_fill_does_not_make_a_report_different() -> None:
    # found by the sequence property: an average that prices no new fill is not read
    report = VenueReport(S.CANCELED, D(0), D(0))
    state = run(Sent(), report)
    assert apply(state, report) == (state, ())
    partly = run(Sent(), VenueReport(S.ACCEPTED, D(1), D(90)))
    canceled, _ = apply(partly, VenueReport(S.CANCELED, D(1), D(0)))
    assert (canceled.status, canceled.average_price) == (S.CANCELED, D(90))
    assert apply(canceled, VenueReport(S.CANCELED, D(1), D(0))) == (canceled, ())
