"""The build steps, each one uv (or conda) call: venv, resolve against a base, install, check.

Everything runs with the shared uv cache (``UV_CACHE_DIR``), so a wheel downloaded once is
hardlinked into later envs. Output of every step is appended to the env's build log; a step
that fails raises :class:`BuildFailed` whose message is the tool's own error, condensed.
The caller (``haienv.create``) decides where to build and what the status is.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import sys
import zlib
from collections import namedtuple
from collections.abc import Callable, Sequence
from pathlib import Path

from .errors import BuildFailed
from .spec import DistInfo, canonical, distributions

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    import subprocess
    from importlib import metadata as _md
    from typing import IO

    from .config import HaiEnvConfig
    from .settings import Settings

Progress = Callable[[str], None]

BASE_LAYER_PTH = "zzz_haienv_base.pth"
"""The file that layers a base under an env. Its name sorts last, so the base's folder is
appended to ``sys.path`` after the env's own site-packages and its other ``.pth`` entries:
the env's packages shadow the base's."""


class Sources(
    namedtuple("Sources", ("find_links", "index_url", "extra_index_urls", "no_index"),
               defaults=((), "", (), False))
):  # fmt: skip
    """Where packages come from (uv's index options): ``find_links`` and
    ``extra_index_urls`` (lists; by default empty tuples), ``index_url``, ``no_index``.
    Immutable: a named tuple rather than a dataclass, because ``haienv create`` must not
    import dataclasses (and inspect; start-up, issue #15)."""

    __slots__ = ()

    def args(self) -> list[str]:
        out: list[str] = []
        if self.no_index:
            out.append("--no-index")
        if self.index_url:
            out += ["--index-url", self.index_url]
        for url in self.extra_index_urls:
            out += ["--extra-index-url", url]
        for link in self.find_links:
            out += ["--find-links", link]
        return out


def uv_environment(config: HaiEnvConfig | Settings) -> dict[str, str]:
    """os.environ for uv: the shared cache, no progress bars, no colour, and (unless the
    user set ``UV_PYTHON_DOWNLOADS`` or configured otherwise) no Python downloads."""
    env = dict(os.environ)
    env["UV_CACHE_DIR"] = str(Path(config.uv_cache_dir).expanduser())
    env.setdefault("UV_LINK_MODE", config.link_mode)
    env["UV_NO_PROGRESS"] = "1"
    env["NO_COLOR"] = "1"
    if not config.allow_python_downloads:
        env.setdefault("UV_PYTHON_DOWNLOADS", "never")
    env.pop("PYTHONHOME", None)
    return env


class Runner:
    """Runs tool commands with one log file and one progress callback."""

    def __init__(
        self, config: HaiEnvConfig | Settings, log_path: Path, progress: Progress | None = None
    ):
        self.config = config
        self.log_path = log_path
        self.progress = progress or (lambda _msg: None)
        self.env = uv_environment(config)

    def log(self, text: str) -> None:
        with open(self.log_path, "a", encoding="utf-8") as f:
            f.write(text if text.endswith("\n") else text + "\n")

    def run(
        self, step: str, cmd: Sequence[str], *, env: dict | None = None, shown: str | None = None
    ) -> str:
        """Run ``cmd``; its output goes to the log (as it comes) and is returned. Raises
        BuildFailed."""
        self.progress(step)
        self.log(f"\n### {step}\n$ {shown or shlex.join(str(c) for c in cmd)}")
        start = self.log_path.stat().st_size
        with open(self.log_path, "ab") as log:
            proc = self._popen(step, cmd, log, env)
            ok = wait_or_kill(proc, self.config.build_timeout)
        with open(self.log_path, "rb") as f:
            f.seek(start)
            output = f.read().decode("utf-8", "replace")
        return self.checked(step, ok, proc.returncode, output)

    def start(
        self, step: str, cmd: Sequence[str], *, shown: str | None = None, stdin: bool = False
    ) -> Started:
        """Start ``cmd`` while other steps run; :meth:`Started.wait` ends it (its output
        is added to the log then, in one piece). ``stdin``: it reads what
        :meth:`Started.send` gives it (and the step is announced then, not now)."""
        if not stdin:
            self.progress(step)
        import tempfile  # not at import: a create that runs nothing needs none (start-up)

        output = tempfile.TemporaryFile()  # noqa: SIM115 - Started.wait/stop close it
        try:
            proc = self._popen(step, cmd, output, None, stdin)
        except BaseException:
            output.close()
            raise
        return Started(self, step, shown or shlex.join(str(c) for c in cmd), proc, output)

    def _popen(
        self, step: str, cmd: Sequence[str], out: IO, env: dict | None, stdin: bool = False
    ) -> subprocess.Popen:
        import subprocess  # not at import: a create that runs nothing needs none (start-up)

        try:
            return subprocess.Popen(
                [str(c) for c in cmd],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                env=env or self.env,
            )
        except FileNotFoundError:
            raise BuildFailed(f"{step}: {cmd[0]} not found", log_path=str(self.log_path)) from None

    def checked(self, step: str, in_time: bool, returncode: int | None, output: str) -> str:
        """``output`` of a step that ended well; else BuildFailed saying why."""
        if not in_time:
            raise BuildFailed(
                f"{step}: timed out after {self.config.build_timeout} s",
                log_path=str(self.log_path),
            )
        if returncode != 0:
            raise BuildFailed(f"{step} failed: {condense(output)}", log_path=str(self.log_path))
        return output

    def uv(self, step: str, *args: str | os.PathLike) -> str:
        return self.run(step, [self.config.uv, *map(str, args)])


class Started:
    """A step started by :meth:`Runner.start`, running while others do."""

    def __init__(
        self, runner: Runner, step: str, shown: str, proc: subprocess.Popen, output: IO
    ) -> None:
        self.runner, self.step, self.shown = runner, step, shown
        self.proc, self.output = proc, output

    def wait(self) -> str:
        """Wait for it (killed after the build timeout), log its output and return it.
        Raises BuildFailed as :meth:`Runner.run` does. Only the first call waits."""
        if self.output.closed:
            return ""
        in_time = wait_or_kill(self.proc, self.runner.config.build_timeout)
        self.output.seek(0)
        text = self.output.read().decode("utf-8", "replace")
        self.output.close()
        self.runner.log(f"\n### {self.step}\n$ {self.shown}\n{text}")
        return self.runner.checked(self.step, in_time, self.proc.returncode, text)

    def send(self, line: str) -> None:
        """Give a step started with ``stdin`` its one line of input (announcing the step)."""
        self.runner.progress(self.step)
        assert self.proc.stdin is not None
        with contextlib.suppress(OSError):  # it ended already: wait() says how
            self.proc.stdin.write(line.encode() + b"\n")
        with contextlib.suppress(OSError):
            self.proc.stdin.close()

    def stop(self) -> None:
        """End it now, whatever it did (after another step failed, or when unused)."""
        if not self.output.closed:
            self.proc.kill()
            self.proc.wait()
            self.output.close()
            if self.proc.stdin is not None:
                self.proc.stdin.close()


def wait_or_kill(proc: subprocess.Popen, timeout: float) -> bool:
    """Wait for ``proc``; kill it after ``timeout`` seconds. True when it ended in time.

    Why not ``subprocess.run(timeout=...)``: with its output going to a file, Python (before
    3.13) waits by polling with sleeps that double up to 50 ms, so a 30 ms ``uv venv``
    took up to 60 ms. A blocking ``wait()`` returns when the process ends; a timer kills it
    if it does not."""
    import threading  # not at import (start-up)

    killed = threading.Event()

    def kill() -> None:
        killed.set()
        proc.kill()

    timer = threading.Timer(timeout, kill)
    timer.daemon = True
    timer.start()
    try:
        proc.wait()
    finally:
        timer.cancel()
    return not killed.is_set()


def condense(output: str, limit: int = 800) -> str:
    """The error part of a tool's output as one line."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    for i, ln in enumerate(lines):
        if ln.lower().startswith(("error", "\u00d7", "x ", "critical")):  # uv marks errors with x
            lines = lines[i:]
            break
    else:
        lines = lines[-6:]
    text = " ".join(lines)
    if len(text) <= limit:
        return text
    # keep how it began and how it ended: the cause is usually in the last lines
    return text[: limit // 4] + " ... " + text[-(limit - limit // 4 - 5) :]


# -- steps -----------------------------------------------------------------------------------
def installed_pythons(uv: str, env: dict[str, str] | None = None) -> list[str]:
    """The Python versions uv finds on this machine (no downloads), for error messages."""
    import subprocess

    try:
        out = subprocess.run(
            [uv, "python", "list", "--only-installed"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    versions: list[str] = []
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0].count("-") >= 2:
            version = parts[0].split("-")[1]
            if version not in versions:
                versions.append(version)
    return versions


def no_python_message(request: str, installed: list[str]) -> str:
    """Why a Python request cannot be met here, with what there is and how to get it."""
    have = ", ".join(installed) or "none found"
    return (
        f"no Python {request} here (installed: {have}); pick one with --python X.Y, or get "
        f"{request} with `uv python install {request}`"
    )


def start_venv(runner: Runner, target: Path, python: str) -> Started:
    """Start making a relocatable venv (scripts use relative paths, so the finished env can
    be renamed into place and pushed to another root)."""
    args = ["venv", "--relocatable", "--no-project", "--python", python, target]
    return runner.start("creating the venv", [runner.config.uv, *map(str, args)])


VENV_TEMPLATE_PREFIX = ".venv-template-"
"""Hidden folders beside the envs holding an empty venv made by ``uv venv`` (see
:func:`venv_template`)."""


def venv_template(folder: Path, python: str, uv: str) -> Path | None:
    """Where an empty venv for ``python``, made by ``uv``, is kept in ``folder`` (None: no
    interpreter there).

    ``uv venv`` takes ~20-35 ms; copying the dozen small files of a venv it made before for
    the same interpreter takes ~1 ms. A venv made with ``--relocatable`` holds no path of
    its own (``pyvenv.cfg`` names the interpreter's folder, the scripts find their folder
    when run), so a copy is what ``uv venv`` would make at the new path. The name depends on
    the interpreter's real path, size and modification time and on uv's, so an upgraded
    Python or uv gets a fresh template instead of a stale one."""
    try:
        real = os.path.realpath(python)
        st = os.stat(real)
    except OSError:
        return None
    key = f"{real}\0{st.st_mtime_ns}\0{st.st_size}"
    with contextlib.suppress(OSError):
        ust = os.stat(uv)
        key += f"\0{os.path.realpath(uv)}\0{ust.st_mtime_ns}\0{ust.st_size}"
    return folder / f"{VENV_TEMPLATE_PREFIX}{zlib.crc32(key.encode()):08x}"


def _template_fits(template: Path, python: str) -> bool:
    """Is ``template`` a venv whose ``bin/python`` is ``python``'s interpreter?"""
    venv_python = template / "bin" / "python"
    return os.path.islink(venv_python) and os.path.realpath(venv_python) == os.path.realpath(python)


def copy_venv_template(runner: Runner, template: Path, target: Path, python: str) -> bool:
    """Make the venv at ``target`` as a copy of ``template``; False (nothing left at
    ``target``) when there is none for this interpreter, then ``uv venv`` makes it."""
    if not _template_fits(template, python):
        return False
    runner.progress("creating the venv")
    try:
        shutil.copytree(template, target, symlinks=True)
    except OSError:  # removed meanwhile (a newer template replaced it): uv makes the venv
        shutil.rmtree(target, ignore_errors=True)
        return False
    runner.log(f"\n### creating the venv\ncopied {template} (made by `uv venv` before)")
    return True


def save_venv_template(venv: Path, template: Path, python: str) -> None:
    """Keep a copy of the empty venv uv just made at ``venv`` as ``template`` (unless there
    is one). Made under a temporary name and renamed: a concurrent create sees the whole
    template or none; of two racing ones, the first rename wins."""
    if template.exists() or not _template_fits(venv, python):
        return
    tmp = template.with_name(f"{template.name}.tmp-{os.urandom(4).hex()}")
    try:
        shutil.copytree(venv, tmp, symlinks=True)
        os.rename(tmp, template)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)


def pyvenv_version(venv: Path) -> str:
    """``version_info`` of ``<venv>/pyvenv.cfg`` (what uv found the interpreter to be)."""
    with contextlib.suppress(OSError):
        for line in (venv / "pyvenv.cfg").read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "version_info":
                return value.strip()
    return ""


def site_packages_of(venv: Path) -> Path:
    """``<venv>/lib/pythonX.Y/site-packages`` (the one there is)."""
    found = sorted((venv / "lib").glob("python*/site-packages"))
    if not found:
        raise BuildFailed(f"no site-packages folder in {venv}")
    return found[0]


def add_base_layer(venv: Path, base_site_packages: str) -> None:
    """Layer the base under ``venv``: a .pth (processed after the env's own entries) adds the
    base's site-packages with ``site.addsitedir`` so the base's own .pth files work too."""
    pth = site_packages_of(venv) / BASE_LAYER_PTH
    pth.write_text(
        "# haienv: packages of the base env, after this env's own (they shadow the base)\n"
        f"import site; site.addsitedir({str(base_site_packages)!r})\n"
    )


def resolve(
    runner: Runner,
    inputs: Path,
    python: str,
    sources: Sources,
    constraints: Path | None,
    out: Path,
) -> list[str]:
    """Full resolution (``uv pip compile``) of ``inputs``; returns the pinned lines."""
    args: list[str | os.PathLike] = [
        "pip",
        "compile",
        inputs,
        "--python",
        python,
        "--no-header",
        "--no-annotate",
        "--quiet",
        "-o",
        out,
        *sources.args(),
    ]
    if constraints is not None:
        args += ["--constraint", constraints]
    try:
        runner.uv("resolving against the base", *args)
    except BuildFailed as exc:
        raise BuildFailed(
            f"{exc} (the base's packages are pinned to its versions; ask for a package "
            "explicitly with another version to override the base's)",
            log_path=exc.log_path,
        ) from None
    return [
        ln.strip()
        for ln in out.read_text().splitlines()
        if ln.strip() and not ln.lstrip().startswith(("#", "-"))
    ]


#: ``name==version`` (and the name of a pin), compiled on first use (re caches them): a
#: create that resolves nothing does not compile them (start-up)
_PIN_PATTERN = r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;]+)"
_NAME_PATTERN = r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(==|@)"


def not_in_base(pins: list[str], base: dict[str, str]) -> list[str]:
    """The pins the base does not already provide in exactly that version."""
    out = []
    for pin in pins:
        m = re.match(_PIN_PATTERN, pin)
        if m and base.get(canonical(m.group(1))) == m.group(3):
            continue
        out.append(pin)
    return out


def pin_names(pins: list[str]) -> set[str] | None:
    """Canonical names in requirement lines, or None if one has no recognisable name."""
    names = set()
    for pin in pins:
        m = re.match(_NAME_PATTERN, pin)
        if m is None or pin.startswith("-"):
            return None
        names.add(canonical(m.group(1)))
    return names


def install(
    runner: Runner,
    python: str,
    requirement_file: Path,
    sources: Sources,
    *,
    no_deps: bool,
    step: str = "installing packages",
) -> None:
    args: list[str | os.PathLike] = ["pip", "install", "--python", python, "-r", requirement_file]
    if no_deps:
        args.append("--no-deps")
    runner.uv(step, *args, *sources.args())


def conda_create(
    runner: Runner,
    tool: str,
    prefix: Path,
    python: str | None,
    specs: list[str],
    channels: list[str],
) -> None:
    """A conda env at ``prefix`` with the conda-only specs (and python)."""
    cmd = [tool, "create", "-y", "-p", str(prefix)]
    for ch in channels:
        cmd += ["-c", ch]
    cmd += [f"python={python}" if python else "python", "pip", *specs]
    runner.run(f"creating the conda env with {os.path.basename(tool)}", cmd)


_PROBE = r"""
import json, os, sys, sysconfig
arg, out_path = sys.argv[1], sys.argv[2]
if arg == "-":  # started before the packages were installed: the modules come on stdin
    purelib = sysconfig.get_paths()["purelib"]
    def pth_files():
        return {f for f in os.listdir(purelib) if f.endswith(".pth")}
    before = pth_files()
    arg = sys.stdin.readline()
    if not arg or pth_files() - before:  # a new .pth is read at start-up only: run again
        with open(out_path, "w") as f:
            json.dump({"again": True}, f)
        sys.exit(0)
    import importlib
    importlib.invalidate_caches()
modules = json.loads(arg)
failures = []
for dist, mod in modules:
    try:
        __import__(mod)
    except BaseException as exc:
        failures.append(f"import {mod} ({dist}): {type(exc).__name__}: {exc}")
v = sys.version_info
result = {
    "python_version": f"{v[0]}.{v[1]}.{v[2]}",
    "platform": sysconfig.get_platform(),
    "interpreter": os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable),
    "purelib": sysconfig.get_paths()["purelib"],
    "prefix": sys.prefix,
    "sys_path": sys.path,
    "failures": failures,
}
with open(out_path, "w") as f:
    json.dump(result, f)
"""


def top_level_modules(dist: DistInfo | _md.Distribution) -> list[str]:
    """Import names a distribution provides (top_level.txt, else derived from RECORD)."""
    text = dist.read_text("top_level.txt")
    if text:
        return [t for t in text.split() if t.isidentifier()]
    found = set()
    for f in dist.files or ():
        parts = f.parts
        if not parts or parts[0] in ("..", "__pycache__"):
            continue
        if parts[0].endswith((".dist-info", ".data", ".egg-info")):
            continue
        if len(parts) == 1:
            if parts[0].endswith(".py"):
                found.add(parts[0][:-3])
            elif parts[0].endswith((".so", ".pyd")):
                found.add(parts[0].split(".")[0])
        elif parts[-1].endswith((".py", ".so")):
            found.add(parts[0])
    return sorted(t for t in found if t.isidentifier())


def modules_to_check(names: list[str], site_dirs: list[str]) -> tuple[list, list[str]]:
    """``[(dist, module)]`` to import for the requested distribution names, looked up in the
    env's site-packages then its base's (read here, so the env's interpreter only imports);
    and the names that are not installed at all."""
    found: dict[str, DistInfo | _md.Distribution] = {}
    for dist in distributions(site_dirs) if names else ():
        key = canonical(dist.metadata["Name"] or "") if dist.metadata else ""
        if key:
            found.setdefault(key, dist)
    pairs, missing = [], []
    for name in names:
        dist = found.get(canonical(name))
        if dist is None:
            missing.append(name)
            continue
        pairs += [(name, mod) for mod in top_level_modules(dist)]
    return pairs, missing


def start_probe(runner: Runner, python: str, out: Path) -> Started:
    """Start the env's interpreter for :func:`probe` while the packages are installed: it
    starts (~15 ms) and waits for the modules to import on its stdin. A ``.pth`` file that
    the install adds is only read when an interpreter starts, so then :func:`probe` runs a
    fresh one."""
    shown = shlex.join([python, "-I", "-B", "-c", "<haienv import check>", "-", str(out)])
    cmd = [python, "-I", "-B", "-c", _PROBE, "-", str(out)]
    return runner.start("checking imports", cmd, shown=shown, stdin=True)


def probe(
    runner: Runner,
    python: str,
    check: list[str],
    site_dirs: list[str],
    out: Path,
    *,
    verify: bool,
    started: Started | None = None,
) -> dict:
    """Run the env's interpreter once: its version/platform/paths, and (``verify``) import
    the top-level modules of each requested distribution. Failures raise BuildFailed.
    ``started``: the interpreter :func:`start_probe` started, given the modules now."""
    pairs, missing = modules_to_check(check, site_dirs) if verify else ([], [])
    data = None
    if started is not None:
        started.send(json.dumps(pairs))
        started.wait()
        data = json.loads(out.read_text())
    if data is None or data.get("again"):
        step = "checking imports" if check and verify else "checking the interpreter"
        args = [json.dumps(pairs), str(out)]
        shown = shlex.join([python, "-I", "-B", "-c", "<haienv import check>", *args])
        runner.run(step, [python, "-I", "-B", "-c", _PROBE, *args], shown=shown)
        data = json.loads(out.read_text())
    failures = [f"{name}: not installed" for name in missing] + data["failures"]
    for failure in failures:
        runner.log(f"import check: {failure}")
    if failures:
        raise BuildFailed(
            "import check failed: " + "; ".join(failures)[:800], log_path=str(runner.log_path)
        )
    return data


def current_platform() -> str:
    import sysconfig

    return sysconfig.get_platform()


def running_python_version() -> str:
    return ".".join(map(str, sys.version_info[:3]))
