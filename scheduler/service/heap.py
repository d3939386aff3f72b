"""The service's heap at depth: the loop's queue kept out of CPython's full collections.

At 100,000 queued chains the loop's in-memory queue (:mod:`.queue_index`) holds some
350,000 objects, and CPython's full (oldest-generation) collection walks every one: 80-130
ms with the GIL held on a 2-core machine, a dozen times during a burst of submissions and
now and then while only pages were read (``gc.callbacks`` in ``bench_depth.py``). Those
pauses were the ``GET /chains`` page's p99 at that depth.

So after the loop has read the whole queue, :func:`settle` collects once and freezes what
is alive (:func:`gc.freeze`: a permanent generation no collection walks; Instagram's
recipe for long-lived heaps). Frozen objects are still freed when nothing refers to them;
only a reference cycle among them would wait, and the next :func:`settle` unfreezes first,
so its collection frees those. Below ``threshold`` queued chains a full collection is
cheap and nothing is frozen. While the loop reads a deep queue, :func:`paused` keeps the
collector off: the 350,000 new objects set off several full collections that freed
nothing (67-81 ms each here), and :func:`settle` collects once after; the same while it
writes tens of thousands of chains' reasons at once (one executemany: ~90,000 parameter
dicts and tuples alive, walked by each collection they set off).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


def settle(queued: int, threshold: int) -> bool:
    """One full collection, then what survives frozen, when ``queued`` >= ``threshold``
    (0: never); False when it did nothing."""
    if not threshold or queued < threshold:
        if gc.get_freeze_count():
            gc.unfreeze()  # the queue shrank: collections may walk it again
        return False
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    return True


@contextlib.contextmanager
def paused(enabled: bool = True) -> Iterator[None]:
    """No automatic collection inside (when ``enabled``): a full read of the queue
    allocates it anew, and :func:`settle` collects once after."""
    if not enabled or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
