"""Turning the submit form into a task spec: a script, or a notebook made into a script.

The form names a file relative to the Jupyter server's root. A ``.py`` or ``.sh`` file
runs as it is, with its folder as the workspace. A notebook's code cells are written to
``.hai/<name>-<hash>.py`` beside it, through IPython's own input transformer (as
``jupyter nbconvert --to script`` does): ``%magic``, ``%%bash`` cells and ``x = !ls``
become ``get_ipython()`` calls, which the script's header binds to an IPython shell when
(and only when) a cell uses them. The hash in the file name keeps a running chain's script
from being overwritten by a later submit.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from IPython.core.inputtransformer2 import TransformerManager

from hai_client.chain_names import default_name
from hai_client.errors import HaiError

SCRIPT_SUFFIXES = (".py", ".sh")
NOTEBOOK_SUFFIX = ".ipynb"


def resolve_path(root: str, relative: str) -> Path:
    """``relative`` (a path in the file browser) as a file under ``root``; HaiError if not."""
    if not isinstance(relative, str) or not relative.strip():
        raise HaiError("choose a notebook or a script to submit", status=422, field="path")
    base = Path(root).expanduser().resolve()
    target = (base / relative.strip().lstrip("/")).resolve()
    if target != base and base not in target.parents:
        raise HaiError(f"{relative} is outside the server's folder", status=422, field="path")
    if not target.is_file():
        raise HaiError(f"no such file: {relative}", status=422, field="path")
    if target.suffix not in (*SCRIPT_SUFFIXES, NOTEBOOK_SUFFIX):
        raise HaiError(
            f"{relative}: submit a notebook (.ipynb) or a script (.py, .sh)",
            status=422,
            field="path",
        )
    return target


#: bound only when a cell uses IPython syntax; the script then needs IPython in its env
IPYTHON_HEADER = """\
# Cells below use IPython syntax (%magic, !shell): run them through an IPython shell.
try:
    from IPython.core.interactiveshell import InteractiveShell
except ImportError:
    raise SystemExit(
        "this script comes from a notebook using IPython syntax (%magic, !shell): "
        "install ipython in its environment"
    ) from None
get_ipython = InteractiveShell.instance


# A job has no display: %matplotlib selects the file-only Agg backend.
def _matplotlib_in_a_job(line):
    import os

    os.environ.setdefault("MPLBACKEND", "Agg")


get_ipython().register_magic_function(_matplotlib_in_a_job, "line", "matplotlib")
"""


def notebook_source(nb: dict[str, Any]) -> str:
    """The code cells of a notebook (nbformat 4 JSON) as one Python script."""
    transformer = TransformerManager()
    parts = []
    uses_ipython = False
    for i, cell in enumerate(nb.get("cells") or []):
        if cell.get("cell_type") != "code":
            continue
        src = cell.get("source") or ""
        text = "".join(src) if isinstance(src, list) else str(src)
        code = transformer.transform_cell(text).rstrip("\n")
        uses_ipython = uses_ipython or code != text.rstrip("\n")
        parts.append(f"# --- cell {i + 1}\n{code}")
    body = "\n\n".join(parts) + "\n"
    return IPYTHON_HEADER + "\n" + body if uses_ipython else body


def notebook_script(path: Path, name: str) -> Path:
    """Write the notebook's code to ``.hai/<name>-<hash>.py`` beside it; returns that path."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HaiError(
            f"cannot read the notebook {path.name}: {exc}", status=422, field="path"
        ) from None
    if not isinstance(nb, dict):
        raise HaiError(f"{path.name} is not a notebook", status=422, field="path")
    source = f"# Made from {path.name} by the HAI JupyterLab extension\n" + notebook_source(nb)
    digest = hashlib.sha256(source.encode()).hexdigest()[:10]
    out = path.parent / ".hai" / f"{name}-{digest}.py"
    out.parent.mkdir(exist_ok=True)
    if not out.exists():
        out.write_text(source, encoding="utf-8")
    return out


def _args(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        import shlex

        try:
            return shlex.split(value)
        except ValueError as exc:
            raise HaiError(f"arguments: {exc}", status=422, field="args") from None
    if isinstance(value, list) and all(isinstance(a, str | int | float) for a in value):
        return [str(a) for a in value]
    raise HaiError("arguments must be a string or a list of strings", status=422, field="args")


def build_task(root: str, form: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(task spec, overrides) for a submit form; HaiError naming the field when it is wrong.

    Form fields: ``path`` (required), ``args``, ``name``, ``nodes``, ``priority``,
    ``group``, ``haienv``, ``gpus``. Values are checked by the scheduler, which names the
    field of anything it refuses.
    """
    path = resolve_path(root, form.get("path", ""))
    name = form.get("name") or None
    if name is not None and not isinstance(name, str):
        raise HaiError("name must be a string", status=422, field="name")
    chain_name = (name or "").strip() or default_name(path.name)
    args = _args(form.get("args"))
    if path.suffix == NOTEBOOK_SUFFIX:
        script = notebook_script(path, default_name(path.name))
        entrypoint = str(script.relative_to(path.parent))
    else:
        entrypoint = path.name
    spec: dict[str, Any] = {"entrypoint": entrypoint, "workspace": str(path.parent)}
    if args:
        spec["parameters"] = args
    task = {"version": 2, "name": chain_name, "spec": spec}
    overrides = {
        "priority": _blank_none(form.get("priority")),
        "group": _blank_none(form.get("group")),
        "node_count": _number(form.get("nodes")),
        "gpus_per_node": _number(form.get("gpus")),
        "haienv": _blank_none(form.get("haienv")),
    }
    return task, {k: v for k, v in overrides.items() if v is not None}


def _blank_none(value: Any) -> Any:
    """Empty form fields mean "the default": None, which the overrides leave out."""
    if isinstance(value, str):
        return value.strip() or None
    return value


def _number(value: Any) -> Any:
    """``"2"`` → 2; anything else goes to the scheduler as it is (it names the field)."""
    value = _blank_none(value)
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return value
