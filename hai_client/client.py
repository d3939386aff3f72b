"""The Python client of the scheduler's HTTP API: one :class:`HaiClient`, typed results.

Used by ``hai-cli``, and meant for the notebook magics and the lab extension too::

    from hai_client.client import HaiClient

    with HaiClient() as hai:                    # url and token from ~/.hai/conf.yaml
        chain = hai.create(open("train.yaml").read(), overrides={"node_count": 2})
        for line in hai.follow(chain.id):
            print(line.time, line.text)

Every failure is a :class:`~hai_client.errors.HaiError` with a message fit to show. The
result types (:class:`Chain`, :class:`Job`, :class:`Rank`, ...) are generated from the
API's OpenAPI document into :mod:`hai_client.api_types` (scripts/gen_api_types.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from urllib.parse import quote

from hai_client import transport
from hai_client.api_types import (
    Chain,
    ChainPage,
    Job,
    LogLine,
    LogPage,
    NodeGroup,
    NodeInfo,
    Rank,
    Whoami,
)
from hai_client.config import load_config, normalize_url
from hai_client.errors import HaiError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "Chain",
    "ChainPage",
    "HaiClient",
    "HaiError",
    "Job",
    "LogLine",
    "LogPage",
    "NodeGroupInfo",
    "NodeInfo",
    "Rank",
    "Whoami",
]


#: the name ``hai-cli`` and the lab have always used for a node group's occupancy
NodeGroupInfo = NodeGroup


class HaiClient:
    """A synchronous client of one scheduler. Without ``url``/``token``, reads the config."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 30.0,
    ) -> None:
        if url is None or token is None:
            cfg = load_config()
            url = url or cfg.url
            token = token or cfg.token
        self.url = normalize_url(url)
        self.api = self.url + "api/v1"
        self._http = transport.Transport(
            self.api,
            {"Authorization": f"token {token}", "User-Agent": "hai-client"},
            timeout,
        )

    def __enter__(self) -> HaiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ transport

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """One API call; returns the decoded JSON, raises HaiError with a clear message."""
        try:
            resp = self._http.request(method, path, **kwargs)
        except transport.ConnectFailed as exc:
            raise HaiError(f"cannot reach the HAI scheduler at {self.url} ({_why(exc)})") from None
        except transport.TimedOut:
            raise HaiError(f"the HAI scheduler at {self.url} did not answer in time") from None
        except transport.TransportError as exc:
            raise HaiError(f"talking to the HAI scheduler at {self.url} failed: {exc}") from None
        try:
            body = resp.json()
        except ValueError:
            body = None
        if resp.status_code >= 400:
            raise _error(resp.status_code, body, self.url)
        if body is None:
            raise HaiError(
                f"{self.url} answered {resp.status_code} without JSON: is it a HAI scheduler?"
            )
        return body

    @staticmethod
    def _ref(ref: str | int) -> str:
        return quote(str(ref), safe="")

    # ------------------------------------------------------------------ API

    def info(self) -> dict[str, Any]:
        return self.request("GET", "/")

    # ------------------------------------------------------------------ admin

    def users(self) -> list[dict[str, Any]]:
        return self.request("GET", "/users")["users"]

    def create_user(self, name: str, **fields: Any) -> dict[str, Any]:
        return self.request("POST", f"/users/{self._ref(name)}", json=fields)

    def change_user(self, name: str, **fields: Any) -> dict[str, Any]:
        return self.request("PATCH", f"/users/{self._ref(name)}", json=fields)

    def quotas(self) -> dict[str, Any]:
        return self.request("GET", "/quotas")

    def set_quota(self, kind: str, subject: str, resource: str, limit: int) -> dict[str, Any]:
        path = f"/quotas/{kind}/{self._ref(subject)}/{self._ref(resource)}"
        return self.request("PUT", path, json={"limit": limit})

    def remove_quota(self, kind: str, subject: str, resource: str) -> None:
        self._no_content("DELETE", f"/quotas/{kind}/{self._ref(subject)}/{self._ref(resource)}")

    def set_node_state(self, node: str, state: str) -> dict[str, Any]:
        return self.request("PATCH", f"/nodes/{self._ref(node)}", json={"state": state})

    def _no_content(self, method: str, path: str) -> None:
        """A call answered 204 on success."""
        try:
            resp = self._http.request(method, path)
        except transport.TransportError as exc:
            raise HaiError(f"talking to the HAI scheduler at {self.url} failed: {exc}") from None
        if resp.status_code != 204:
            try:
                body = resp.json()
            except ValueError:
                body = None
            raise _error(resp.status_code, body, self.url)

    def tokens(self, user: str | None = None) -> list[dict[str, Any]]:
        """Your API tokens (admins: ``user``'s, or everyone's)."""
        params = {"user": user} if user else None
        return self.request("GET", "/tokens", params=params)["tokens"]

    def create_token(
        self, note: str = "", expires_in_days: int | None = None, user: str | None = None
    ) -> dict[str, Any]:
        """A new token (its ``token`` is shown only now)."""
        body: dict[str, Any] = {"note": note}
        if expires_in_days is not None:
            body["expires_in_days"] = expires_in_days
        if user:
            body["user"] = user
        return self.request("POST", "/tokens", json=body)

    def revoke_token(self, token_id: int) -> None:
        """Revoke a token at once (yours; admins: anyone's)."""
        self._no_content("DELETE", f"/tokens/{int(token_id)}")

    def whoami(self) -> Whoami:
        return Whoami.from_json(self.request("GET", "/whoami"))

    def create(
        self,
        task: str | Mapping[str, Any] | Path,
        *,
        overrides: Mapping[str, Any] | None = None,
    ) -> Chain:
        """Submit a task spec: YAML text, a Path to a YAML file, or a mapping."""
        if isinstance(task, Path):
            try:
                task = task.read_text()
            except OSError as exc:
                raise HaiError(f"cannot read {task}: {exc.strerror}") from None
        body: dict[str, Any] = {"task": task if isinstance(task, str) else dict(task)}
        clean = {k: v for k, v in (overrides or {}).items() if v is not None}
        if clean:
            body["overrides"] = clean
        return Chain.from_json(self.request("POST", "/chains", json=body))

    def list(
        self,
        *,
        page: int = 1,
        page_size: int = 20,
        name: str | None = None,
        state: str | None = None,
        group: str | None = None,
        owner: str | None = None,
    ) -> ChainPage:
        params = {"page": page, "page_size": page_size}
        params.update(
            {
                k: v
                for k, v in (("name", name), ("state", state), ("group", group), ("owner", owner))
                if v
            }
        )
        return ChainPage.from_json(self.request("GET", "/chains", params=params))

    def get(self, ref: str | int) -> Chain:
        return Chain.from_json(self.request("GET", f"/chains/{self._ref(ref)}"))

    def stop(self, ref: str | int) -> Chain:
        return Chain.from_json(self.request("POST", f"/chains/{self._ref(ref)}/stop"))

    def suspend(self, ref: str | int) -> Chain:
        """Suspend and hold a chain (admins)."""
        return Chain.from_json(self.request("POST", f"/chains/{self._ref(ref)}/suspend"))

    def resume(self, ref: str | int) -> Chain:
        """Release an admin's hold (admins)."""
        return Chain.from_json(self.request("POST", f"/chains/{self._ref(ref)}/resume"))

    def set_priority(self, ref: str | int, priority: str | int) -> Chain:
        return Chain.from_json(
            self.request("PATCH", f"/chains/{self._ref(ref)}", json={"priority": priority})
        )

    def describe(self, ref: str | int) -> str:
        """The chain's spec as YAML that ``create`` accepts again."""
        return self.request("GET", f"/chains/{self._ref(ref)}/describe")["yaml"]

    def rank(self, ref: str | int, rank: int = 0) -> dict[str, Any]:
        """Where a rank of the newest job runs: node, handle, workspace, environment."""
        return self.request("GET", f"/chains/{self._ref(ref)}/ranks/{int(rank)}")

    def logs(self, ref: str | int, *, rank: int = 0, cursor: str = "") -> LogPage:
        params: dict[str, Any] = {"rank": rank}
        if cursor:
            params["cursor"] = cursor
        return LogPage.from_json(
            self.request("GET", f"/chains/{self._ref(ref)}/logs", params=params)
        )

    def follow(
        self,
        ref: str | int,
        *,
        rank: int = 0,
        cursor: str = "",
        poll: float = 0.5,
        until_done: bool = True,
    ) -> Iterator[LogLine]:
        """Log lines as they come, across suspends and resumes, until the chain finishes.

        With ``until_done`` False, stop at the end of what is stored now.
        """
        ref = self.get(ref).id if not str(ref).isdigit() else ref  # pin a name to one chain
        while True:
            page = self.logs(ref, rank=rank, cursor=cursor)
            cursor = page.cursor
            yield from page.lines
            if page.done or (page.eof and not until_done):
                return
            if page.eof:
                time.sleep(poll)

    def usage(
        self,
        *,
        by: str | Sequence[str] = "user",
        since: str | None = None,
        until: str | None = None,
        user: str | None = None,
        group: str | None = None,
        node_group: str | None = None,
        priority: str | int | None = None,
        kind: str | None = None,
    ) -> dict[str, Any]:
        """GPU- and node-hours over a window (default: the last 30 days), one row per
        ``by`` group (any of user, group, node_group, priority, day, profile, kind), with
        ``total`` and the ``cluster``'s total. ``since``/``until``: a date, a date-time or
        ``7d``/``12h`` (ago). Yours only, unless you are an admin."""
        params: dict[str, Any] = {"by": by if isinstance(by, str) else ",".join(by)}
        for key, value in (
            ("since", since),
            ("until", until),
            ("user", user),
            ("group", group),
            ("node_group", node_group),
            ("priority", priority),
            ("kind", kind),
        ):
            if value is not None:
                params[key] = str(value)
        return self.request("GET", "/usage", params=params)

    def nodes(self) -> list[NodeGroupInfo]:
        return [NodeGroup.from_json(g) for g in self.request("GET", "/nodes")["groups"]]

    def overview(self) -> dict[str, Any]:
        """Chains per state (yours; admins: all) and GPUs in use per group."""
        return self.request("GET", "/overview")


def _why(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused: is hai-scheduler running?"
    return text


def _error(status: int, body: Any, url: str) -> HaiError:
    message = body.get("error") if isinstance(body, dict) else None
    field_name = body.get("field") if isinstance(body, dict) else None
    if status == 401:
        return HaiError(
            f"the scheduler at {url} refused the token; run hai-cli init <token> --url {url}",
            status=401,
            field=field_name,
        )
    if not message:
        message = f"the scheduler at {url} answered HTTP {status}"
    return HaiError(message, status=status, field=field_name)
