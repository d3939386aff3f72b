"""Decayed usage (scheduler.policy.decay) against closed forms and a numerical integral."""

from __future__ import annotations

import math
import random

import pytest

from scheduler.policy.decay import (
    UsageSegment,
    combined,
    decay_factor,
    decayed,
    decayed_usage,
    segment_usage,
)

H = 3600.0  # half-life of one hour
NOW = 1_000_000.0


def midpoint_integral(gpus: float, start: float, end: float, now: float, half_life: float) -> float:
    """gpus * ∫ 2^(-(now - t) / half_life) dt by the midpoint rule: independent of the code."""
    steps = 20_000
    width = (end - start) / steps
    total = 0.0
    for i in range(steps):
        t = start + (i + 0.5) * width
        total += 2.0 ** (-(now - t) / half_life)
    return gpus * total * width


def test_decay_factor_halves_every_half_life() -> None:
    assert decay_factor(0, H) == 1.0
    assert decay_factor(H, H) == pytest.approx(0.5, rel=1e-15)
    assert decay_factor(3 * H, H) == pytest.approx(0.125, rel=1e-15)
    assert decay_factor(H / 2, H) == pytest.approx(1 / math.sqrt(2), rel=1e-15)


def test_one_half_life_of_use_ending_now() -> None:
    # ∫_0^h 2^(-s/h) ds = h / (2 ln 2)
    assert segment_usage(8, NOW - H, NOW, NOW, H) == pytest.approx(8 * H / (2 * math.log(2)))


def test_the_same_run_one_half_life_later_counts_half() -> None:
    now = segment_usage(4, NOW - 2 * H, NOW, NOW, H)
    assert segment_usage(4, NOW - 2 * H, NOW, NOW + H, H) == pytest.approx(now / 2)
    assert segment_usage(4, NOW - 2 * H, NOW, NOW + 5 * H, H) == pytest.approx(now / 32)


def test_use_since_long_ago_converges_to_half_life_over_ln2() -> None:
    # continuous use for ever: g * ∫_0^∞ 2^(-s/h) ds = g * h / ln 2
    assert segment_usage(2, NOW - 200 * H, NOW, NOW, H) == pytest.approx(2 * H / math.log(2))


def test_a_long_half_life_counts_raw_gpu_seconds() -> None:
    assert segment_usage(8, NOW - 600, NOW - 100, NOW, 1e12) == pytest.approx(8 * 500, rel=1e-6)


def test_short_run_long_ago_keeps_its_precision() -> None:
    # one second, 40 half-lives ago, with a half-life of a year: a tiny difference of powers
    year = 365 * 86400.0
    start, end = NOW - 40 * year - 1, NOW - 40 * year
    value = segment_usage(1, start, end, NOW, year)
    assert value == pytest.approx(midpoint_integral(1, start, end, NOW, year), rel=1e-9)
    assert value == pytest.approx(2.0**-40, rel=1e-6)


@pytest.mark.parametrize("seed", range(20))
def test_matches_a_numerical_integral(seed: int) -> None:
    rng = random.Random(seed)
    half_life = rng.choice([60.0, H, 7 * 86400.0])
    start = NOW - rng.uniform(0, 5 * half_life)
    end = rng.uniform(start, NOW)
    gpus = rng.choice([1, 2, 8])
    expected = midpoint_integral(gpus, start, end, NOW, half_life)
    assert segment_usage(gpus, start, end, NOW, half_life) == pytest.approx(expected, rel=1e-6)


def test_running_and_future_parts_count_up_to_now_and_empty_runs_count_nothing() -> None:
    ending_now = segment_usage(1, NOW - H, NOW, NOW, H)
    assert segment_usage(1, NOW - H, None, NOW, H) == ending_now
    assert segment_usage(1, NOW - H, NOW + H, NOW, H) == ending_now
    assert segment_usage(1, NOW, NOW, NOW, H) == 0.0
    assert segment_usage(1, NOW + 5, NOW + 10, NOW, H) == 0.0
    assert segment_usage(1, NOW - 5, NOW - 10, NOW, H) == 0.0


def test_splitting_a_run_changes_nothing() -> None:
    whole = segment_usage(8, NOW - 5 * H, NOW - H, NOW, H)
    cut = NOW - 2.5 * H
    parts = segment_usage(8, NOW - 5 * H, cut, NOW, H) + segment_usage(8, cut, NOW - H, NOW, H)
    assert parts == pytest.approx(whole, rel=1e-12)


def test_totals_per_user_and_group_and_their_decay() -> None:
    segments = [
        UsageSegment("alice", "vision", 8, NOW - 3 * H, NOW - H),
        UsageSegment("carol", "vision", 2, NOW - H, None),
        UsageSegment("dave", None, 1, NOW - H, NOW),
    ]
    usage = decayed_usage(segments, NOW, H)
    alice = segment_usage(8, NOW - 3 * H, NOW - H, NOW, H)
    carol = segment_usage(2, NOW - H, NOW, NOW, H)
    assert usage.users == {
        "alice": alice,
        "carol": carol,
        "dave": segment_usage(1, NOW - H, NOW, NOW, H),
    }
    assert usage.groups == {"vision": alice + carol}  # a user without a group has none
    # finished runs valued later: the total decays as a whole
    later = decayed_usage(segments[:1], NOW + 2 * H, H)
    assert decayed(usage.users, 2 * H, H)["alice"] == pytest.approx(later.users["alice"])
    both = combined(usage, later)
    assert both.users["alice"] == pytest.approx(alice + later.users["alice"])
    assert both.groups["vision"] == pytest.approx(alice + carol + later.groups["vision"])
