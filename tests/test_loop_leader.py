"""The loop under leader election (`run_loop(leading=…)`): a standby runs no pass until it
leads (it is woken when it acquires the lease), and a pass cut short because the lease was
lost is logged as such, not as a failure to back off from."""

from __future__ import annotations

import threading
from typing import Any

from test_loop import Recorder, state

from gitops_edge.reconciler.leader_election import NotLeaderError
from gitops_edge.reconciler.loop import Loaded, LoopSettings, run_loop
from gitops_edge.reconciler.reconcile import PassResult


def test_a_standby_runs_no_pass_until_it_leads() -> None:
    log, stop, wake = Recorder(), threading.Event(), threading.Event()
    holds = threading.Event()
    passes: list[str] = []

    def reconcile(desired: Any) -> PassResult:
        passes.append(desired.revision)
        stop.set()
        return PassResult(plans=(), results=())

    def acquire_later() -> None:
        holds.wait(0.3)  # a while standing by
        holds.set()
        wake.set()  # the elector wakes the loop when it acquires the lease

    threading.Thread(target=acquire_later, daemon=True).start()
    run_loop(
        load=lambda: Loaded("r1", state("r1")),
        reconcile=reconcile,
        settings=LoopSettings(interval=3600),  # only the wake-up can start the pass in time
        stop=stop,
        wake=wake,
        log=log,
        transient=(),
        leading=holds.is_set,
    )
    messages = [message for _, message, _ in log.lines]
    assert passes == ["r1"]
    assert messages.index("standing by: another reconciler holds the lease") < messages.index(
        "leading: this reconciler holds the lease"
    )


def test_a_pass_that_lost_the_lease_is_not_a_failure() -> None:
    log, stop, wake = Recorder(), threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def reconcile(desired: Any) -> PassResult:
        raise NotLeaderError("lease gitops-edge/x held by b")

    passes = run_loop(
        load=lambda: Loaded("r1", state("r1")),
        reconcile=reconcile,
        settings=LoopSettings(interval=0.01, max_passes=2),
        stop=stop,
        wake=wake,
        log=log,
        transient=(),
        on_error=errors.append,
        leading=lambda: True,
    )
    assert passes == 2 and errors == []
    lost = [f for _, m, f in log.lines if m == "lost the lease: this pass stopped applying"]
    assert len(lost) == 2 and "held by b" in lost[0]["error"]
