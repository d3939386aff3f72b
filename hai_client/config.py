"""Which scheduler and which token: the one resolver of ``hai-cli``, the Python client,
the ``%hai`` magics and the lab extension.

In this order (the first that gives a value wins, for the URL and the token separately):

1. explicit: ``$HAI_URL`` / ``$HAI_TOKEN`` (or the lab's ``c.HaiLabConfig`` traits);
2. a dev container's environment: ``$HAI_SCHEDULER_URL`` (set by the HAI spawners) with
   ``$JUPYTERHUB_API_TOKEN`` (the server's own hub token, which the scheduler accepts as its
   owner's), so nothing needs ``hai-cli init`` there;
3. ``~/.hai/conf.yaml`` (``$HAI_CONFIG``), written by ``hai-cli init <token> --url <url>``
   (mode 0600, in a 0700 folder).

The file is YAML. ``hai-cli init`` writes each value as a double-quoted scalar, which is
also a JSON string, so reading the file it wrote needs only :mod:`json`; PyYAML (~6 ms of
a command that must answer in tens of milliseconds) is imported only for a file edited
into another YAML form.

The hub's own components (spawners, lease culler, hub handlers) act as the hub, not as a
user: :func:`hub_scheduler_url` and :func:`hub_scheduler_token` read their settings,
``$HAI_SCHEDULER_URL`` and ``$HAI_SCHEDULER_TOKEN``; hub services (the culler, the scheduler
behind JupyterHub) find the hub with :func:`hub_api_url` and :func:`hub_api_token`.
"""

from __future__ import annotations

import json
import os
import re
from collections import namedtuple
from pathlib import Path

from hai_client.errors import HaiError
from hai_client.files import write_atomic
from hai_client.lazy import lazy_module

yaml = lazy_module("yaml")  # only when a conf.yaml is read or written

#: the scheduler service's port unless configured (``SchedulerApp.port``)
DEFAULT_PORT = 8910
DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_PORT}/"
#: the scheduler's URL in a dev container and in the hub's environment (set by the spawners)
URL_VAR = "HAI_SCHEDULER_URL"
#: the hub's token for the scheduler (an admin identity), in the hub's environment only
HUB_TOKEN_VAR = "HAI_SCHEDULER_TOKEN"


def hub_scheduler_url(default: str = DEFAULT_URL) -> str:
    """The scheduler's URL for the hub's components: ``$HAI_SCHEDULER_URL``, else
    ``default``."""
    return os.environ.get(URL_VAR, default)


def hub_scheduler_token() -> str:
    """The hub's token for the scheduler: ``$HAI_SCHEDULER_TOKEN`` ('' when unset)."""
    return os.environ.get(HUB_TOKEN_VAR, "")


#: JupyterHub's API when ``$JUPYTERHUB_API_URL`` is unset (the hub's default bind)
DEFAULT_HUB_API_URL = "http://127.0.0.1:8081/hub/api"


def hub_api_url() -> str:
    """JupyterHub's API URL for a hub service (the culler, the scheduler as a hub service):
    ``$JUPYTERHUB_API_URL``, else :data:`DEFAULT_HUB_API_URL`."""
    return os.environ.get("JUPYTERHUB_API_URL", DEFAULT_HUB_API_URL)


def hub_api_token() -> str:
    """A hub service's own API token: ``$JUPYTERHUB_API_TOKEN`` ('' when unset)."""
    return os.environ.get("JUPYTERHUB_API_TOKEN", "")


def config_path() -> Path:
    """``$HAI_CONFIG``, else ``~/.hai/conf.yaml``."""
    env = os.environ.get("HAI_CONFIG")
    return Path(env).expanduser() if env else Path.home() / ".hai" / "conf.yaml"


def normalize_url(url: str) -> str:
    """``host:port`` → ``http://host:port/``; always one trailing slash."""
    url = url.strip()
    if not url:
        raise HaiError("the scheduler URL is empty")
    if "://" not in url:
        url = "http://" + url
    if not url.startswith(("http://", "https://")):
        raise HaiError(f"the scheduler URL must start with http:// or https://, not {url!r}")
    return url.rstrip("/") + "/"


#: the scheduler and token in effect, and where they came from ("explicit", "dev
#: container" or the conf.yaml path). A named tuple, not a dataclass: importing
#: ``dataclasses`` (``inspect``, ``ast``, ``dis``) is ~5 ms of every hai-cli start
ClientConfig = namedtuple("ClientConfig", ("url", "token", "source"), defaults=("config",))


#: one line of the file as save_config writes it: ``key: "a JSON string"``
_QUOTED_LINE = re.compile(r'([a-z_]+): ("(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*")')


def _read_file(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        text = path.read_text()
        loaded = _read_quoted(text)
        if loaded is None:
            loaded = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise HaiError(f"cannot read {path}: {exc}") from None
    if loaded is not None and not isinstance(loaded, dict):
        raise HaiError(f"{path} is not a mapping of url/token; run hai-cli init again")
    return loaded or {}


def _read_quoted(text: str) -> dict[str, str] | None:
    """The mapping in ``text`` when every line is ``key: "JSON string"`` (what
    :func:`save_config` writes; the same value YAML reads), else None (read it as YAML)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        match = _QUOTED_LINE.fullmatch(line)
        if match is None or match[1] in found:
            return None
        found[match[1]] = json.loads(match[2])
    return found or None


def _dump_quoted(values: dict[str, str]) -> str:
    """``key: "value"`` lines: valid YAML, and what :func:`_read_quoted` reads."""
    return "".join(f"{key}: {json.dumps(value)}\n" for key, value in values.items())


def load_config(
    path: Path | None = None, *, url: str | None = None, token: str | None = None
) -> ClientConfig:
    """The scheduler and token in effect (see the module docstring); ``url``/``token`` are
    explicit settings that win. HaiError telling how to configure one when there is none."""
    path = path or config_path()
    env = os.environ
    container_url = env.get(URL_VAR, "")
    container_token = env.get("JUPYTERHUB_API_TOKEN", "") if container_url else ""
    chosen_url = url or env.get("HAI_URL") or container_url
    chosen_token = token or env.get("HAI_TOKEN") or container_token
    source = "dev container" if container_token and chosen_token == container_token else ""
    if url or token or env.get("HAI_URL") or env.get("HAI_TOKEN"):
        source = source or "explicit"
    if not (chosen_url and chosen_token):
        data = _read_file(path)
        chosen_url = chosen_url or str(data.get("url") or "")
        chosen_token = chosen_token or str(data.get("token") or "")
        source = str(path)
    if not chosen_token:
        raise HaiError(
            f"not configured ({path} has no token): run hai-cli init <token> --url <url>"
        )
    return ClientConfig(normalize_url(chosen_url or DEFAULT_URL), chosen_token, source)


def save_config(token: str, url: str, path: Path | None = None) -> Path:
    """Write url and token to the config file, readable by its owner only."""
    token = token.strip()
    if not token or any(c.isspace() for c in token):
        raise HaiError("the token must be one word without spaces")
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    text = _dump_quoted({"url": normalize_url(url), "token": token})
    write_atomic(path, text, mode=0o600)
    return path
