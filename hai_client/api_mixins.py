"""Behaviour of the generated API types (hai_client/api_types.py), written by hand.

The generator (scripts/gen_api_types.py) mixes these into the classes it writes; they hold
no fields of their own, so the API's shapes stay in one place (scheduler/service/schema/).

:class:`Record` is what a frozen dataclass would give them (fields fixed by
``__slots__``, read-only, compared and shown by value, ``raw`` left out of both). Why not
``@dataclass``: building nine dataclasses costs ~5 ms at every ``hai-cli`` start (a tenth
of a command's budget, issue #15); generated ``__init__`` methods cost nothing.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any


class FrozenRecordError(AttributeError):
    """An assignment to a field of an API answer (they are read-only)."""


class Record:
    """Fields in ``__slots__`` (``raw``, the JSON it came from, last), set once by the
    generated ``__init__``; equal when of the same class with equal fields but ``raw``."""

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenRecordError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenRecordError(f"cannot delete field {name!r}")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__[:-1])

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__[:-1])
        return f"{type(self).__name__}({shown})"


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
