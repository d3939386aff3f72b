"""Behaviour of the generated API types (hai_client/api_types.py), written by hand.

The generator (scripts/gen_api_types.py) mixes these into the classes it writes; they hold
no fields of their own, so the API's shapes stay in one place (scheduler/service/schema.py).
"""

from __future__ import annotations

from typing import Any


class ChainMixin:
    """A chain's conveniences: whether it finished, its newest job."""

    __slots__ = ()
    state: str
    jobs: list[Any]

    @property
    def finished(self) -> bool:
        return self.state == "finished"

    @property
    def current_job(self) -> Any:
        """The newest job (a :class:`~hai_client.api_types.Job`), or None before the first."""
        return self.jobs[-1] if self.jobs else None
