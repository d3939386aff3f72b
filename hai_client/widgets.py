"""ipywidgets for notebooks: :class:`ChainMonitor`, the live view that ``%hai watch`` shows.

The monitor polls the scheduler from a background thread (every ``poll`` seconds, with
its own :class:`~hai_client.client.HaiClient`), so the kernel stays free while it updates:
the state, the ranks of the newest job, the tail of one rank's log (read with the log
cursor, which continues across a suspend and resume), and a Stop button. It ends by
itself once the chain has finished and its log is read to the end, or on ``close()``.
"""

from __future__ import annotations

import html
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

try:
    import ipywidgets as widgets
except ModuleNotFoundError as exc:  # the core install has no Jupyter
    from hai_client.extras import extra_for, install_hint

    if extra_for(exc) is None:
        raise
    raise ModuleNotFoundError(
        f"hai_client.widgets needs ipywidgets: {install_hint('lab')}", name=exc.name
    ) from None

from hai_client import render
from hai_client.client import Chain, HaiClient
from hai_client.errors import HaiError

log = logging.getLogger(__name__)

_ERROR = "color: var(--jp-error-color1, #d32f2f)"
_MUTED = "color: var(--jp-ui-font-color2, #757575)"
_LOG_STYLE = (
    "margin: 0; padding: 4px 6px; max-height: 22em; overflow: auto; "
    "font-family: var(--jp-code-font-family, monospace); "
    "font-size: var(--jp-code-font-size, 12px); "
    "background: var(--jp-layout-color2, #f5f5f5); color: var(--jp-content-font-color1, #000);"
)


def _classes(widget: widgets.DOMWidget, name: str) -> widgets.DOMWidget:
    widget.add_class(name)
    return widget


class ChainMonitor(widgets.VBox):
    """A live view of one chain: state, per-rank status, log tail, Stop."""

    def __init__(
        self,
        ref: str | int,
        *,
        rank: int = 0,
        tail: int = 20,
        poll: float = 2.0,
        client_factory: Callable[[], HaiClient] = HaiClient,
        start: bool = True,
    ) -> None:
        self._factory = client_factory
        with client_factory() as hai:
            chain = hai.get(ref)  # a wrong name fails here, before anything is shown
        self.chain_id = chain.id
        self.chain: Chain = chain
        self.poll = poll
        self.finished = False
        self.rank = rank if rank < chain.node_count else 0
        self._lines: deque[str] = deque(maxlen=max(1, tail))
        self._cursor = ""
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._wake = threading.Event()

        self.header = _classes(widgets.HTML(), "hai-monitor-state")
        self.ranks = _classes(widgets.HTML(), "hai-monitor-ranks")
        self.log_view = _classes(widgets.HTML(), "hai-monitor-log")
        self.status = _classes(widgets.HTML(), "hai-monitor-status")
        self.stop_button = widgets.Button(
            description="Stop",
            button_style="danger",
            icon="stop",
            tooltip=f"Stop chain {chain.id} for good",
        )
        self.rank_select = widgets.Dropdown(
            options=[(f"rank {i}", i) for i in range(max(1, chain.node_count))],
            value=self.rank,
            layout=widgets.Layout(width="110px"),
        )
        self.stop_button.on_click(self._on_stop)
        self.rank_select.observe(self._on_rank, names="value")
        super().__init__(
            [
                self.header,
                widgets.HBox([self.stop_button, self.rank_select, self.status]),
                self.ranks,
                self.log_view,
            ]
        )
        self.add_class("hai-monitor")
        self._show(chain)
        self._show_log()
        self._thread = threading.Thread(target=self._run, name=f"hai-watch-{chain.id}", daemon=True)
        if start:
            self._thread.start()

    # ------------------------------------------------------------------ display

    def _show(self, chain: Chain) -> None:
        from hai_client.magics import ranks_html, state_html

        self.chain = chain
        self.header.value = (
            f"<div><b>{html.escape(chain.name)}</b> {state_html(chain)} "
            f'<span style="{_MUTED}">chain {chain.id} · {html.escape(chain.priority)} · '
            f"group {html.escape(chain.group)} · suspended {chain.suspend_count} times · "
            f"updated {html.escape(render.when(chain.updated_at))}</span></div>"
            + (f'<div style="{_MUTED}">{html.escape(chain.reason)}</div>' if chain.reason else "")
        )
        self.ranks.value = ranks_html(chain)
        if chain.finished or chain.stop_requested:
            self.stop_button.disabled = True

    def _show_log(self) -> None:
        with self._lock:
            text = "\n".join(self._lines)
            rank = self.rank
        body = html.escape(text) if text else f'<span style="{_MUTED}">(no output yet)</span>'
        self.log_view.value = (
            f'<div style="{_MUTED}">rank {rank}, last {self._lines.maxlen} lines</div>'
            f'<pre style="{_LOG_STYLE}">{body}</pre>'
        )

    def _say(self, text: str, style: str = _MUTED) -> None:
        self.status.value = f'<span style="{style}">{html.escape(text)}</span>' if text else ""

    # ------------------------------------------------------------------ actions

    def _on_stop(self, _button: Any = None) -> None:
        self.stop_button.disabled = True
        try:
            with self._factory() as hai:
                chain = hai.stop(self.chain_id)
        except HaiError as exc:
            self.stop_button.disabled = False
            self._say(f"stop failed: {exc}", _ERROR)
            return
        self._show(chain)
        self._say("stop requested")
        self._wake.set()

    def _on_rank(self, change: dict[str, Any]) -> None:
        with self._lock:
            self.rank = int(change["new"])
            self._cursor = ""
            self._lines.clear()
        self._show_log()
        self._wake.set()

    def stop(self) -> None:
        """Stop the chain (what the button does)."""
        self._on_stop()

    def close(self) -> None:
        """Stop polling and close the widgets."""
        self._closing.set()
        self._wake.set()
        for child in (self.header, self.ranks, self.log_view, self.status):
            child.close()
        super().close()

    # ------------------------------------------------------------------ polling

    def _read_log(self, hai: HaiClient) -> bool:
        """New lines of the selected rank; True when the chain finished and all was read."""
        with self._lock:
            rank, cursor = self.rank, self._cursor
        new: list[str] = []
        while True:
            page = hai.logs(self.chain_id, rank=rank, cursor=cursor)
            cursor = page.cursor
            new.extend(render.log_line(line) for line in page.lines)
            if page.eof or not page.lines:
                break
        with self._lock:
            if rank != self.rank:  # switched meanwhile: the next round starts over
                return False
            self._cursor = cursor
            self._lines.extend(new)
        if new:
            self._show_log()
        return page.done

    def _run(self) -> None:
        try:
            with self._factory() as hai:
                while not self._closing.is_set():
                    try:
                        chain = hai.get(self.chain_id)
                        self._show(chain)
                        done = self._read_log(hai)
                        if self.status.value and "stop requested" not in self.status.value:
                            self._say("")
                    except HaiError as exc:
                        self._say(str(exc), _ERROR)
                        done = False
                    if done:
                        # the chain may have finished after it was read above: show its end
                        chain = hai.get(self.chain_id)
                        self._show(chain)
                        self.finished = True
                        ending = f" ({chain.stop_code})" if chain.stop_code else ""
                        self._say(f"chain {chain.state}{ending}: end of log")
                        return
                    self._wake.wait(self.poll)
                    self._wake.clear()
        except Exception:  # never let a broken poll kill the kernel's thread silently
            log.exception("hai watch %s failed", self.chain_id)
            self._say("the monitor stopped after an error (see the kernel log)", _ERROR)
