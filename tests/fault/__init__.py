"""Reliability guarantees, each with a planted-fault twin that turns its guard off.

Every module pairs a test asserting that a guarantee holds with a *twin* that disables the one
guard providing it (a ``monkeypatch`` of the guard, undone after the test) and asserts that the
same oracle now reports the failure. A twin that passes proves its oracle can fail; a twin that
starts failing means the guard moved and the guarantee test may no longer test anything
(reliability notes §6.1: "a suite that cannot fail is worthless").

Unit level only: no broker, no sleeps, no timing assertions; seeds are fixed and printed.
"""
