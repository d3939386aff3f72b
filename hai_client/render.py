"""What ``hai-cli`` shows: the tables of chains, nodes, usage and checks.

The tables are :class:`hai_client.tables.Table` data; :mod:`hai_client.tables` draws them
for a pipe (plain lines) or a terminal (rich, readable when narrow). Cells are text, never
markup, so a chain name such as ``[x]`` is shown as it is. Times are shown in local time,
to the second.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from hai_client.client import Chain, LogLine, NodeGroupInfo, Whoami
from hai_client.profiles import SPOT
from hai_client.tables import PlainOutput, RichOutput, Table

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any

Output = PlainOutput | RichOutput  # where hai-cli prints (hai_client.tables.output)


def when(value: dt.datetime | None, *, short: bool = False) -> str:
    """Local time to the second (``short``: month-day hour:minute)."""
    if value is None:
        return "-"
    return value.astimezone().strftime("%m-%d %H:%M" if short else "%Y-%m-%d %H:%M:%S")


def _t(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def _table(*columns: str, title: str | None = None) -> Table:
    return Table(list(columns), title=title)


NARROW = 80  # below this many columns, tables use short headers and times


def is_narrow(con: Output) -> bool:
    return con.width < NARROW


def chain_table(
    chains: Iterable[Chain], *, show_owner: bool = False, narrow: bool = False
) -> Table:
    """id, name, nodes, chain_status, suspend_count, updated_at (and owner for admins)."""
    if narrow:
        cols = ["id", "name", "nodes", "status", "susp", "updated"]
    else:
        cols = ["id", "name", "nodes", "chain_status", "suspend_count", "updated_at"]
    if show_owner:
        cols.insert(2, "owner")
    table = _table(*cols)
    table.keep_first_whole = True
    for c in chains:
        status = c.state + (" (stopping)" if c.stop_requested and not c.finished else "")
        status += " (held)" if c.held and not c.finished else ""
        if c.finished and c.stop_code:
            status += f" ({c.stop_code})"
        updated = when(c.updated_at, short=narrow)
        row = [c.id, c.name, c.node_count, status, c.suspend_count, updated]
        if show_owner:
            row.insert(2, c.owner)
        table.add_row(*(_t(v) for v in row))
    return table


def jobs_table(chain: Chain, *, narrow: bool = False) -> Table | None:
    """rank, status, node, started_at of the chain's newest job (None before the first)."""
    job = chain.current_job
    if job is None:
        return None
    resumed = f" (resumed {job.seq}x)" if job.seq else ""
    table = _table("rank", "status", "node", "started_at", title=f"job {job.seq}{resumed}")
    for r in job.ranks:
        status = r.state + (f" (exit {r.exit_code})" if r.exit_code not in (None, 0) else "")
        started = when(r.started_at, short=narrow)
        table.add_row(_t(r.rank), _t(status), _t(r.node), _t(started))
    return table


def show_status(out: Output, chain: Chain) -> None:
    narrow = is_narrow(out)
    out.print(chain_table([chain], narrow=narrow))
    jobs = jobs_table(chain, narrow=narrow)
    if jobs is not None:
        out.print(jobs)
    details = [f"priority {chain.priority}", f"group {chain.group}", f"owner {chain.owner}"]
    out.print(", ".join(details))
    if chain.reason:
        out.print(f"reason: {chain.reason}")


def log_line(line: LogLine) -> str:
    return f"{line.time} {line.text}"


def whoami_tables(me: Whoami) -> list[Table]:
    head = _table("user", "role", "group", "nodes_in_use")
    head.add_row(_t(me.name), _t(me.role), _t(me.group), _t(me.usage.get("nodes_in_use", 0)))
    used = me.usage.get("by_resource", {})
    quotas = _table("quota", "limit", "used", title="node quotas (- = none)")
    for res, limit in me.quotas.items():
        if limit is None and res not in used and res != "node":
            continue
        quotas.add_row(_t(res), _t(limit), _t(used.get(res, 0)))
    states = _table("state", "chains", title="your chains")
    for state, n in me.usage.get("chains_by_state", {}).items():
        states.add_row(_t(state), _t(n))
    tables = [head, quotas, states]
    if me.usage.get("gpu_hours"):
        tables.append(gpu_hours_table(me.usage["gpu_hours"]))
    return tables


def _share(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.1f}%"


def gpu_hours_table(recent: dict[str, dict[str, Any]]) -> Table:
    """Your GPU-hours today / 7d / 30d against the cluster's (whoami)."""
    table = _table(
        "window", "gpu_hours", "node_hours", "cluster_gpu_hours", "share", title="GPU-hours"
    )
    for window, v in recent.items():
        table.add_row(
            _t(window),
            _t(_num(v["gpu_hours"])),
            _t(_num(v["node_hours"])),
            _t(_num(v["cluster_gpu_hours"])),
            _t(_share(v.get("share"))),
        )
    return table


def _num(hours: float) -> str:
    return f"{hours:.2f}"


def usage_table(data: dict[str, Any]) -> Table:
    """One row per group of ``by``, then the total and the cluster's total."""
    by = data["by"]
    table = _table(*by, "gpu_hours", "node_hours")
    for row in data["rows"]:
        table.add_row(
            *(_t(row.get(d)) for d in by), _t(_num(row["gpu_hours"])), _t(_num(row["node_hours"]))
        )
    for label, totals in (("total", data["total"]), ("cluster", data["cluster"])):
        pad = [""] * max(len(by) - 1, 0)
        table.add_row(label, *pad, _t(_num(totals["gpu_hours"])), _t(_num(totals["node_hours"])))
    return table


def usage_window(data: dict[str, Any]) -> str:
    """Whose hours, over which window (the line under the usage table)."""
    scope = "everyone" if data.get("scope") == "all" else "you; cluster: everyone"
    since, until = (_utc(data[k]) for k in ("since", "until"))
    return f"GPU-hours of {scope}, {since} to {until} UTC"


def _utc(value: str) -> str:
    return dt.datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M")


def usage_csv(data: dict[str, Any], stream: Any) -> None:
    """The rows as CSV: the ``by`` columns, gpu_hours, node_hours (no totals)."""
    import csv

    by = data["by"]
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow([*by, "gpu_hours", "node_hours"])
    for row in data["rows"]:
        writer.writerow(
            [
                *("" if row.get(d) is None else row[d] for d in by),
                row["gpu_hours"],
                row["node_hours"],
            ]
        )


def nodes_tables(groups: list[NodeGroupInfo]) -> list[Table]:
    summary = _table("group", "nodes", "free", "used", "gpus", "gpus_used")
    detail = _table("node", "group", "gpus", "state", "running")
    for g in groups:
        summary.add_row(
            *(_t(v) for v in (g.name, g.nodes, g.free_nodes, g.used_nodes, g.gpus, g.used_gpus))
        )
        for n in g.node_list:
            who = ", ".join(_occupant(u) for u in n.used_by) or "-"
            detail.add_row(_t(n.name), _t(g.name), _t(n.gpus), _t(n.state), _t(who))
    return [summary, detail]


def _occupant(entry: dict[str, Any]) -> str:
    if "dev_server" in entry:
        what = f"{SPOT} server" if entry["dev_server"] == SPOT else f"{entry['dev_server']} server"
        ending = ", being reclaimed" if entry.get("reclaiming") else ""
        return f"{entry['user']} ({what}, {entry.get('gpus', 0)} GPU{ending})"
    if "chain_id" in entry:
        return f"{entry['user']} ({entry['chain_id']} {entry.get('chain_name', '')})".strip()
    return str(entry["user"])


def overview_tables(data: dict[str, Any]) -> list[Table]:
    scope = "all chains" if data.get("scope") == "all" else "your chains"
    states = _table("state", "chains", title=scope)
    for state, n in data.get("chains_by_state", {}).items():
        states.add_row(_t(state), _t(n))
    groups = _table("group", "nodes_used", "gpus_used", "gpus", "use", title="GPUs per group")
    for g in data.get("groups", []):
        pct = f"{100 * g['used_gpus'] / g['gpus']:.0f}%" if g["gpus"] else "-"
        groups.add_row(
            _t(g["name"]),
            _t(f"{g['used_nodes']}/{g['nodes']}"),
            _t(g["used_gpus"]),
            _t(g["gpus"]),
            _t(pct),
        )
    return [states, groups]


def checks_table(results: list[dict[str, Any]]) -> Table:
    table = _table("check", "result", "detail")
    for r in results:
        table.add_row(_t(r["check"]), _t(r["status"]), _t(r["detail"]))
    return table
