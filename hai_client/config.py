"""The client's configuration file, ``~/.hai/conf.yaml``: the scheduler's URL and a token.

``hai-cli init <token> --url <url>`` writes it (mode 0600, in a 0700 folder); the CLI, the
:class:`~hai_client.client.HaiClient`, the notebook magics and the lab extension all read
it. ``HAI_CONFIG`` points elsewhere; ``HAI_URL`` and ``HAI_TOKEN`` override its values.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from hai_client.errors import HaiError

DEFAULT_URL = "http://127.0.0.1:8910/"


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


@dataclass(frozen=True, slots=True)
class ClientConfig:
    url: str
    token: str


def load_config(path: Path | None = None) -> ClientConfig:
    """The configuration in effect; HaiError telling how to create it when there is none."""
    path = path or config_path()
    data: dict = {}
    if path.exists():
        try:
            loaded = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise HaiError(f"cannot read {path}: {exc}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise HaiError(f"{path} is not a mapping of url/token; run hai-cli init again")
        data = loaded or {}
    url = os.environ.get("HAI_URL") or data.get("url") or ""
    token = os.environ.get("HAI_TOKEN") or data.get("token") or ""
    if not token:
        raise HaiError(
            f"not configured ({path} has no token): run hai-cli init <token> --url <url>"
        )
    return ClientConfig(url=normalize_url(str(url or DEFAULT_URL)), token=str(token))


def save_config(token: str, url: str, path: Path | None = None) -> Path:
    """Write url and token to the config file, readable by its owner only."""
    token = token.strip()
    if not token or any(c.isspace() for c in token):
        raise HaiError("the token must be one word without spaces")
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    text = yaml.safe_dump({"url": normalize_url(url), "token": token}, sort_keys=False)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path
