"""Backends make the policy's decisions real: start, signal and stop ranks, report their state."""

from scheduler.backends.base import (
    Backend,
    LogChunk,
    LogLine,
    NodeSpec,
    RankKey,
    RankLaunch,
    RankObservation,
)

__all__ = [
    "Backend",
    "LogChunk",
    "LogLine",
    "NodeSpec",
    "RankKey",
    "RankLaunch",
    "RankObservation",
]
