"""The loop's pure rule for why a job stops (scheduler.service.loop.job_stop_cause)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from scheduler.model.enums import RankState, StopCode
from scheduler.service.loop import job_stop_cause

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _job(*states: RankState, created=T0, stop_code=None, reason=""):
    ranks = [SimpleNamespace(rank=i, rank_state=s) for i, s in enumerate(states)]
    return SimpleNamespace(ranks=ranks, created_at=created, stop_code=stop_code, reason=reason)


def _chain(**kw):
    base = dict(stop_requested_at=None, suspend_requested_at=None, suspend_code=None, options={})
    return SimpleNamespace(**{**base, **kw})


def _cause(chain, job, acked=(), now=T0, faults=()):
    running = [r for r in job.ranks if not r.rank_state.is_terminal]
    return job_stop_cause(
        chain, job, running, set(acked), now, suspend_grace_seconds=30, faults=faults
    )


def test_running_job_goes_on():
    assert _cause(_chain(), _job(RankState.RUNNING, RankState.RUNNING)) is None


def test_the_first_cause_in_order_wins():
    job = _job(RankState.RUNNING, RankState.FAILED, reason="rank 1 exited with code 3")
    stopped = _chain(stop_requested_at=T0)
    assert _cause(stopped, job, faults=["bad"])[1] is StopCode.STOPPED_BY_USER
    assert _cause(_chain(), job, faults=["bad"]) == (
        RankState.FAILED_TERMINATING,
        StopCode.FAILED,
        "bad",
    )
    assert _cause(_chain(), job)[2] == "rank 1 exited with code 3"


def test_suspend_waits_for_acks_or_the_grace_period():
    chain = _chain(suspend_requested_at=T0)
    job = _job(RankState.RUNNING, RankState.RUNNING)
    assert _cause(chain, job, acked=[0]) is None
    assert _cause(chain, job, acked=[0, 1]) == (
        RankState.STOPPED_TERMINATING,
        StopCode.PREEMPTED,
        "suspended",
    )
    late = _cause(chain, job, acked=[0], now=T0 + dt.timedelta(seconds=30))
    assert late is not None and late[2] == "suspended after the grace period"


def test_rank_zero_success_and_timeout():
    assert _cause(_chain(), _job(RankState.SUCCEEDED, RankState.RUNNING))[1] is StopCode.SUCCEEDED
    chain = _chain(options={"timeout": 60})
    job = _job(RankState.RUNNING)
    assert _cause(chain, job, now=T0 + dt.timedelta(seconds=60)) is None
    timed_out = _cause(chain, job, now=T0 + dt.timedelta(seconds=61))
    assert timed_out == (
        RankState.STOPPED_TERMINATING,
        StopCode.TIMEOUT,
        "ran longer than its timeout of 60 s",
    )
