"""Creating and removing environments: the transaction around the build steps.

``plan_request`` checks a :class:`CreateRequest` (``plan_create``: one made of keywords) and
decides python, base and packages without touching the disk (so the CLI can show it and
ask). ``execute`` then, holding the env's lock:
writes metadata ``creating``, builds into a hidden sibling folder, runs the import check,
renames the folder into place and writes ``ready``. On any failure the folder is deleted and
the metadata says ``failed`` with the reason; the log is kept. A failed env keeps its name
until ``haienv remove NAME`` (so its reason and log stay visible).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import zlib
from collections import namedtuple
from collections.abc import Iterator
from pathlib import Path

from hai_client.files import flocked

from . import build
from .errors import BuildFailed, EnvExists, EnvNotFound, HaiEnvError, InvalidInput
from .lockfile import Lock, digest, read_lock
from .names import check_name, parse_pairs
from .settings import Settings
from .spec import (
    EnvironmentFile,
    Frozen,
    Requested,
    affected_by,
    base_constraints,
    find_conda,
    installed_distributions,
    parse_environment_file,
    requested_from,
    requirement_map,
    satisfied_by_base,
)
from .store import CREATING, FAILED, READY, EnvInfo, Store, fresh_dicts, now_iso, read_json

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from .config import HaiEnvConfig


#: the fields of CreatePlan with a default, in order (None for a dict: a fresh ``{}``)
_PLAN_DEFAULTS = {
    **{"packages": (), "requirement_files": (), "environment": None, "conda_tool": None},
    **{"lock": None, "sources": build.Sources(), "labels": None, "annotations": None},
    **{"note": "", "requested": (), "warnings": ()},
}


class CreatePlan(
    namedtuple(
        "CreatePlan",
        ["name", "shared", "python", "python_version", "base", *_PLAN_DEFAULTS],
        defaults=_PLAN_DEFAULTS.values(),
    )
):
    """Everything a create will do, decided up front.

    ``python`` is what uv is given (an interpreter path or a request such as '3.11'),
    ``python_version`` what the user is shown; ``base`` the :class:`EnvInfo` extended (None:
    standalone). ``packages``, ``requirement_files`` (paths), ``requested``
    (:class:`Requested`) and ``warnings`` are lists (by default empty tuples); ``labels``
    and ``annotations`` dicts (by default a fresh ``{}`` each); ``environment``, ``lock`` and
    ``sources`` what was read of each. Immutable: a named tuple rather than a dataclass,
    because ``haienv create`` must not import dataclasses (and inspect, ~10 ms; start-up,
    issue #15).
    """

    __slots__ = ()

    def __new__(cls, *args: object, **kwargs: object) -> CreatePlan:
        return fresh_dicts(super().__new__(cls, *args, **kwargs))

    def describe(self) -> list[str]:
        """Lines saying what will be built (for the confirmation prompt)."""
        where = "shared base" if self.shared else "environment"
        lines = [f"{where} {self.name}: python {self.python_version}"]
        if self.base is not None:
            lines.append(
                f"extends base {self.base.name} ({self.base.path}); only what it lacks is installed"
            )
        else:
            lines.append("extends no base (standalone)")
        if self.conda_tool:
            lines.append(
                f"conda packages via {os.path.basename(self.conda_tool)}: "
                + " ".join(self.environment.conda if self.environment else [])
            )
        if self.lock is not None:
            lines.append(f"from lock: {len(self.lock.packages)} exact packages")
        wanted = [*self.packages, *(str(f) for f in self.requirement_files)]
        if self.environment is not None:
            wanted += self.environment.pip
        if wanted:
            lines.append("packages: " + " ".join(wanted))
        return lines + [f"warning: {w}" for w in self.warnings]


def _version_matches(request: str, version: str) -> bool:
    want = request.strip().lstrip("=").split(".")
    have = version.split(".")
    return bool(want) and all(w.isdigit() for w in want) and have[: len(want)] == want


def _python_version_of(config: HaiEnvConfig, request: str) -> tuple[str, str]:
    """(interpreter path, version) for a request, via ``uv python find`` (no downloads)."""
    if request in (sys.executable, os.path.realpath(sys.executable)):
        return request, build.running_python_version()
    import subprocess  # not at import: a create that extends a base never runs this

    env = build.uv_environment(config)
    try:
        found = subprocess.run(
            [config.uv, "python", "find", request],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise HaiEnvError(f"cannot run uv ({config.uv}): {exc}") from None
    if found.returncode != 0:
        raise InvalidInput(
            build.no_python_message(request, build.installed_pythons(config.uv, env))
        )
    path = found.stdout.strip().splitlines()[-1]
    ver = subprocess.run(
        [path, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return path, ver.stdout.strip() or request


#: the fields of CreateRequest after ``name``, in order, with their defaults
_REQUEST_DEFAULTS = {
    **{"packages": (), "requirements": (), "environment_file": None, "from_lock": None},
    **{"python": None, "base": None, "extend": True, "shared": False, "labels": ()},
    **{"annotations": (), "note": "", "find_links": (), "index_url": None},
    **{"extra_index_urls": (), "no_index": None},
}


class CreateRequest(
    Frozen,
    namedtuple("CreateRequest", ["name", *_REQUEST_DEFAULTS], defaults=_REQUEST_DEFAULTS.values()),
):
    """What a create asks for, unchecked: the options of ``haienv create`` and of
    :func:`haienv.create_env`. The CLI and the Python API build one; :func:`plan_request`
    checks it and decides the rest. Lists given are kept as tuples (a dict of labels or
    annotations stays a dict); an unknown keyword is a TypeError.

    Immutable (assigning raises :class:`dataclasses.FrozenInstanceError`, as when this was
    a frozen dataclass): a named tuple, because ``haienv create`` must not import
    dataclasses (and inspect, ~10 ms; start-up, issue #15).
    """

    __slots__ = ()

    def __new__(cls, *args: object, **kwargs: object) -> CreateRequest:
        request = super().__new__(cls, *args, **kwargs)
        keys = ("packages", "requirements", "find_links", "extra_index_urls")
        fixed = {key: tuple(getattr(request, key)) for key in keys}
        for key in ("labels", "annotations"):
            value = getattr(request, key)
            if not isinstance(value, dict):
                fixed[key] = tuple(value or ())
        return request._replace(**fixed)


def plan_create(name: str, *, config: HaiEnvConfig | None = None, **options) -> CreatePlan:
    """:func:`plan_request` for ``CreateRequest(name, **options)`` (options: its fields)."""
    return plan_request(CreateRequest(name, **options), config=config)


def plan_request(request: CreateRequest, *, config: HaiEnvConfig | None = None) -> CreatePlan:
    """Check every input and decide what to build; raises :class:`HaiEnvError` subclasses
    with a message saying what is wrong. Reads (lock, environment file, bases), writes
    nothing. The steps run in this order, so the first thing wrong is the one reported."""
    config = config if config is not None else Settings()
    labels, annotations = _check_names_and_labels(request)
    req_files = _check_sources(request)
    lock = read_lock(request.from_lock) if request.from_lock else None
    env_file = (
        parse_environment_file(request.environment_file) if request.environment_file else None
    )
    base = _choose_base(request, lock, config)
    py_path, py_version = _choose_python(request, lock, env_file, base, config)
    warnings = _check_lock(lock, base)
    conda_tool = _conda_tool(request, env_file, base)
    pkgs = [_absolute_if_path(p) for p in request.packages]
    return CreatePlan(
        name=request.name,
        shared=request.shared,
        python=py_path,
        python_version=py_version,
        base=base,
        packages=pkgs,
        requirement_files=[f.resolve() for f in req_files],
        environment=env_file,
        conda_tool=conda_tool,
        lock=lock,
        sources=_sources(request, config),
        labels=labels,
        annotations=annotations,
        note=request.note,
        requested=_requested(pkgs, req_files, lock, env_file),
        warnings=warnings,
    )


# -- the steps of plan_request ----------------------------------------------------------------
def _check_names_and_labels(request: CreateRequest) -> tuple[dict[str, str], dict[str, str]]:
    """The env and base names, the labels and annotations (parsed), the note's length."""
    check_name(request.name)
    if request.base is not None:
        check_name(request.base, "base")
    labels = request.labels
    if isinstance(labels, dict):
        parse_pairs([f"{k}={v}" for k, v in labels.items()], "label")
    else:
        labels = parse_pairs(list(labels), "label")
    annotations = request.annotations
    if not isinstance(annotations, dict):
        annotations = parse_pairs(list(annotations), "annotation")
    if len(request.note) > 2000:
        raise InvalidInput("the note is longer than 2000 characters")
    return dict(labels), dict(annotations)


def _check_sources(request: CreateRequest) -> list[Path]:
    """At most one source of packages; the requirements files (returned) exist."""
    given = (request.packages or request.requirements, request.environment_file, request.from_lock)
    if sum(bool(x) for x in given) > 1:
        raise InvalidInput(
            "give packages with one of: package names / -r requirements.txt, "
            "-f environment.yaml, or --from-lock FILE"
        )
    req_files = [Path(r) for r in request.requirements]
    for f in req_files:
        if not f.is_file():
            raise InvalidInput(f"requirements file {f} does not exist")
    return req_files


def _base_from_lock(base: str | None, extend: bool, lock: Lock | None) -> tuple[str | None, bool]:
    """(base, extend) as asked, or as the lock says (refusing a contradiction)."""
    if lock is None:
        return base, extend
    if base is not None and base != lock.extends:
        raise InvalidInput(
            f"the lock extends {lock.extends or 'no base'}; --base {base} would not rebuild "
            "it identically"
        )
    if not extend and lock.extends:
        raise InvalidInput(f"the lock extends base {lock.extends}; drop --no_extend")
    return lock.extends, lock.extends is not None


def _choose_base(request: CreateRequest, lock: Lock | None, config: HaiEnvConfig) -> EnvInfo | None:
    """The shared base the env extends (None: standalone), which must be ready."""
    base, extend = _base_from_lock(request.base, request.extend, lock)
    if request.shared and base is not None and extend:
        raise InvalidInput("a shared base cannot extend another base; drop --base")
    base_name = (base or config.default_base or None) if extend and not request.shared else None
    if not base_name:
        return None
    try:
        base_info = Store(config).find(check_name(base_name, "base"), shared=True)
    except EnvNotFound:
        hint = " (the configured default base)" if not base else ""
        raise EnvNotFound(
            f"no shared base named {base_name!r}{hint}; see `haienv list`, or pass "
            "--no_extend for a standalone env"
        ) from None
    if not base_info.ready:
        raise InvalidInput(
            f"base {base_name!r} is {base_info.status}: {base_info.reason or 'not ready'}"
        )
    return base_info


def _choose_python(
    request: CreateRequest,
    lock: Lock | None,
    env_file: EnvironmentFile | None,
    base: EnvInfo | None,
    config: HaiEnvConfig,
) -> tuple[str, str]:
    """(interpreter, version): the base's; else what the lock, the environment file or
    --python asks (they must agree), else the configured default."""
    python = request.python
    if lock is not None:
        if python and not _version_matches(python, lock.python):
            raise InvalidInput(f"the lock is for python {lock.python}, not {python}")
        python = python or lock.python
    if env_file is not None and env_file.python:
        if python and python != env_file.python:
            raise InvalidInput(
                f"--python {python} contradicts python={env_file.python} in "
                f"{request.environment_file}"
            )
        python = env_file.python
    if base is None:
        return _python_version_of(config, python or config.python_request)
    if python and not _version_matches(python, base.python_version):
        raise InvalidInput(
            f"base {base.name} has python {base.python_version}; an env that "
            f"extends it uses that python, not {python} (pass --no_extend for a standalone "
            f"env with python {python})"
        )
    return base.python, base.python_version


def _check_lock(lock: Lock | None, base: EnvInfo | None) -> list[str]:
    """Refuses a lock made on another platform; warns (returned) when the base changed
    since the lock was written."""
    if lock is None:
        return []
    if lock.platform and lock.platform != build.current_platform():
        raise InvalidInput(
            f"the lock was made on {lock.platform}; this machine is {build.current_platform()}"
        )
    if base is None or not lock.base_digest:
        return []
    if digest(installed_distributions(base.site_packages)) == lock.base_digest:
        return []
    return [
        f"base {base.name} changed since the lock was written; the env's own "
        "packages are rebuilt exactly, the base's are what it has now"
    ]


def _conda_tool(
    request: CreateRequest, env_file: EnvironmentFile | None, base: EnvInfo | None
) -> str | None:
    """The conda/mamba/micromamba for the environment file's conda-only entries, if any."""
    if env_file is None or not env_file.conda:
        return None
    conda_tool = find_conda()
    entries = ", ".join(env_file.conda)
    if conda_tool is None:
        raise InvalidInput(
            f"{request.environment_file} needs conda for: {entries} - no conda, mamba or "
            "micromamba on PATH; move them to the 'pip:' section or install one of those tools"
        )
    if base is not None:
        raise InvalidInput(
            f"{request.environment_file} needs conda for: {entries}; a conda env cannot extend "
            f"base {base.name}: add --no_extend"
        )
    return conda_tool


def _sources(request: CreateRequest, config: HaiEnvConfig) -> build.Sources:
    """Where packages come from: the configured indexes and links, plus the request's."""
    return build.Sources(
        find_links=[*config.find_links, *request.find_links],
        index_url=request.index_url if request.index_url is not None else config.index_url,
        extra_index_urls=[*config.extra_index_urls, *request.extra_index_urls],
        no_index=config.no_index if request.no_index is None else request.no_index,
    )


def _requested(
    pkgs: list[str],
    req_files: list[Path],
    lock: Lock | None,
    env_file: EnvironmentFile | None,
) -> list[Requested]:
    """What the user asked for by name (kept in the metadata and the lock)."""
    if lock is not None:
        return [Requested(n, "") for n in lock.requested]
    return requested_from([*pkgs, *(env_file.pip if env_file else ())], req_files)


def _absolute_if_path(req: str) -> str:
    """A package given as a local path keeps working from the build's work folder."""
    prefix = ""
    if req.startswith(("-e ", "--editable ")):
        prefix, req = req.split(" ", 1)
        prefix, req = prefix + " ", req.strip()
    if req.startswith((".", "/", "~")) and os.path.exists(os.path.expanduser(req)):
        req = os.path.abspath(os.path.expanduser(req))
    return prefix + req


def _existing_refusal(name: str, info: EnvInfo) -> EnvExists:
    if info.status == READY:
        return EnvExists(f"environment {name!r} already exists; `haienv remove {name}` first")
    return EnvExists(
        f"environment {name!r} exists with status {info.status} ({info.reason}); "
        f"see `haienv status {name}`, then `haienv remove {name}` to free the name"
    )


def execute(
    plan: CreatePlan, *, config: HaiEnvConfig | None = None, progress: build.Progress | None = None
) -> EnvInfo:
    """Build the planned env. Returns its :class:`EnvInfo` (status ready) or raises
    :class:`BuildFailed` after leaving status ``failed`` with reason and log."""
    config = config if config is not None else Settings()
    store = Store(config)
    name, shared = plan.name, plan.shared
    folder = store.folder(shared)
    final = store.env_path(name, shared)
    with store.locked(name, shared, "creating"):
        _check_name_free(store, name, shared, final)
        _remove_leftovers(folder, name)
        log_path = store.log_path(name, shared)
        log_path.write_text(f"haienv build log of {name!r}, started {now_iso()}\n")
        meta = _creating_meta(plan, config)
        store.write_meta(name, shared, meta)
        runner = build.Runner(config, log_path, progress)
        for w in plan.warnings:
            runner.log(f"warning: {w}")
        try:
            probed = _build_into_place(plan, runner, folder, final, config)
        except BaseException as exc:
            failure = _record_failure(store, plan, meta, runner, log_path, exc)
            if failure is None:
                raise
            raise failure from None
        meta.update(
            status=READY,
            python_version=probed["python_version"],
            platform=probed["platform"],
            interpreter=probed["interpreter"],
            site_packages=os.path.relpath(probed["purelib"], probed["prefix"]),
        )
        meta.pop("builder", None)
        store.write_meta(name, shared, meta)
        runner.log(f"\nREADY at {now_iso()}")
    info = store.info(name, shared)
    assert info is not None
    return info


def _check_name_free(store: Store, name: str, shared: bool, final: Path) -> None:
    """Refuse a name taken by an env (any status) or by a folder without metadata."""
    existing = store.info(name, shared)
    if existing is not None:
        raise _existing_refusal(name, existing)
    if final.exists():
        raise EnvExists(
            f"{final} exists but has no metadata; `haienv remove {name}` to clean it up"
        )


def _creating_meta(plan: CreatePlan, config: HaiEnvConfig) -> dict:
    """The metadata written while the env is built (status ``creating``, this builder)."""
    return {
        "name": plan.name,
        "owner": config.user,
        "is_base": plan.shared,
        "python_version": plan.python_version,
        "extends": plan.base.name if plan.base else None,
        "extends_path": plan.base.path if plan.base else None,
        "labels": plan.labels,
        "annotations": plan.annotations,
        "note": plan.note,
        "created": now_iso(),
        "status": CREATING,
        "reason": "",
        "requested": [r.name for r in plan.requested],
        "builder": {"pid": os.getpid()},
    }


def _build_into_place(
    plan: CreatePlan, runner: build.Runner, folder: Path, final: Path, config: HaiEnvConfig
) -> dict:
    """Build in a hidden slot (a conda prefix: in place, it is not relocatable) and rename
    it to ``final``; on any failure the folder built in is deleted. Returns the probe's."""
    build_dir = final
    try:
        with contextlib.ExitStack() as stack:
            if not plan.conda_tool:  # conda prefixes are not relocatable: built in place
                build_dir = stack.enter_context(_build_slot(folder, plan.name, plan.python))
            work = stack.enter_context(_WorkDir())
            probed = _build(plan, runner, build_dir, work, config)
            if build_dir != final:
                os.rename(build_dir, final)
    except BaseException:
        if build_dir.exists():
            shutil.rmtree(build_dir, ignore_errors=True)
        raise
    return probed


def _record_failure(
    store: Store,
    plan: CreatePlan,
    meta: dict,
    runner: build.Runner,
    log_path: Path,
    exc: BaseException,
) -> BuildFailed | None:
    """Log the failure and mark the env ``failed`` with its reason. Returns the
    :class:`BuildFailed` to raise for an expected failure (None: re-raise ``exc``)."""
    reason = _reason(exc)
    with contextlib.suppress(OSError):
        runner.log(f"\nFAILED: {reason}")
    meta.update(status=FAILED, reason=reason)
    meta.pop("builder", None)
    store.write_meta(plan.name, plan.shared, meta)
    if isinstance(exc, HaiEnvError | OSError):
        return BuildFailed(
            f"building {plan.name!r} failed: {reason} (log: {log_path})",
            log_path=str(log_path),
        )
    return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, HaiEnvError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class _WorkDir:
    """The build's scratch folder, a temporary directory made when a step first asks for a
    path in it (``work / "name"``): a create whose base has every package writes nothing
    there, and so never imports tempfile (with random and weakref; start-up, issue #15).
    Removed on leaving the ``with``."""

    def __init__(self) -> None:
        self._made = None

    def __truediv__(self, name: str) -> Path:
        if self._made is None:
            import tempfile  # not at import (see above)

            self._made = tempfile.TemporaryDirectory(prefix="haienv-")
        return Path(self._made.name, name)

    def __enter__(self) -> _WorkDir:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._made is not None:
            self._made.cleanup()


def _build(
    plan: CreatePlan, runner: build.Runner, target: Path, work: _WorkDir, config: HaiEnvConfig
) -> dict:
    """The steps; returns what the probe measured in the new env. The venv is made while
    the packages are resolved against the base (neither needs the other)."""
    env = _EnvBeingMade(plan, runner, target, work if config.import_check else None)
    try:
        if plan.lock is not None:
            installed = _install_locked(plan, runner, env, work)
        else:
            installed = _install_requested(plan, runner, env, work)
        env.ready()
        return _import_check(plan, runner, target, work, installed, config, env.probe)
    finally:
        env.stop()  # after a failure: not left running while its folder is deleted


class _EnvBeingMade:
    """The empty env at ``target`` (a conda prefix, else a copy of the venv template for its
    interpreter, else a venv started in the background) seeing its base's packages;
    :meth:`ready` waits for it and returns its python. ``work``: where the import check's
    probe writes (None: no import check)."""

    def __init__(
        self, plan: CreatePlan, runner: build.Runner, target: Path, work: _WorkDir | None
    ) -> None:
        self.plan, self.target, self.started = plan, target, None
        self.runner, self.work = runner, work
        self.template = None
        self.probe: build.Started | None = None
        if plan.conda_tool:
            assert plan.environment is not None
            build.conda_create(
                runner,
                plan.conda_tool,
                target,
                plan.environment.python,
                plan.environment.conda,
                plan.environment.channels,
            )
            self._layer()
        else:
            self.template = build.venv_template(target.parent, plan.python, runner.config.uv)
            if self.template is not None and build.copy_venv_template(
                runner, self.template, target, plan.python
            ):
                self.template = None
                self._layer()
            else:
                self.started = build.start_venv(runner, target, plan.python)

    def ready(self) -> str:
        if self.started is not None:
            self.started.wait()
            self.started = None
            if self.template is not None:  # the next create copies it instead
                build.save_venv_template(self.target, self.template, self.plan.python)
            self._layer()
        return str(self.target / "bin" / "python")

    def start_probe(self) -> None:
        """Before installing into a venv that is there already: start its interpreter for
        the import check now, so its start-up overlaps the install."""
        if self.started is None and self.work is not None and not self.plan.conda_tool:
            python = str(self.target / "bin" / "python")
            self.probe = build.start_probe(self.runner, python, self.work / "probe.json")

    def stop(self) -> None:
        if self.started is not None:
            self.started.stop()
        if self.probe is not None:
            self.probe.stop()

    def _layer(self) -> None:
        if self.plan.base is not None:
            build.add_base_layer(self.target, self.plan.base.site_packages)


def _install_locked(
    plan: CreatePlan, runner: build.Runner, env: _EnvBeingMade, work: _WorkDir
) -> set[str] | None:
    """Install the lock's exact packages (no resolving); the names the env installed."""
    assert plan.lock is not None
    installed = build.pin_names(plan.lock.packages)
    if plan.lock.packages:
        pins = work / "lock.txt"
        pins.write_text("\n".join(plan.lock.packages) + "\n")
        build.install(
            runner,
            env.ready(),
            pins,
            plan.sources,
            no_deps=True,
            step="installing the locked packages",
        )
    return installed


def _install_requested(
    plan: CreatePlan, runner: build.Runner, env: _EnvBeingMade, work: _WorkDir
) -> set[str] | None:
    """Install the packages, requirements files and environment file's pip entries: all of
    them in a standalone env, only what the base lacks in an env extending one. Returns the
    names the env installed itself (None: unknown)."""
    lines = [*plan.packages, *(f"-r {f}" for f in plan.requirement_files)]
    if plan.environment is not None:
        lines += plan.environment.pip
    if not lines:
        return None
    base_dists = installed_distributions(plan.base.site_packages) if plan.base else None
    if base_dists is not None and satisfied_by_base(lines, base_dists):
        runner.log(
            f"the base {plan.base.name} has every requested package in an allowed "
            f"version ({' '.join(lines)}): nothing to resolve or install"
        )
        return set()
    inputs = work / "requirements.in"  # the work folder is made only now (see _WorkDir)
    inputs.write_text("\n".join(lines) + "\n")
    if base_dists is None:
        env.start_probe()
        build.install(runner, env.ready(), inputs, plan.sources, no_deps=False)
        return None
    return _install_what_base_lacks(plan, runner, env, work, inputs, base_dists)


def _install_what_base_lacks(
    plan: CreatePlan,
    runner: build.Runner,
    env: _EnvBeingMade,
    work: _WorkDir,
    inputs: Path,
    base_dists: dict[str, str],
) -> set[str] | None:
    """Resolve against the base's versions (as constraints), install only the pins the base
    does not have; their names."""
    assert plan.base is not None
    constraints = work / "base-constraints.txt"
    constraints.write_text("\n".join(base_constraints(base_dists, plan.requested)) + "\n")
    env.start_probe()
    pins = build.resolve(
        runner, inputs, plan.base.python, plan.sources, constraints, work / "pins.txt"
    )
    todo = build.not_in_base(pins, base_dists)
    runner.log(
        f"resolved {len(pins)} packages; the base has {len(pins) - len(todo)}, "
        f"installing {len(todo)}: {' '.join(todo) or '-'}"
    )
    if todo:
        missing = work / "missing.txt"
        missing.write_text("\n".join(todo) + "\n")
        build.install(
            runner,
            env.ready(),
            missing,
            plan.sources,
            no_deps=True,
            step=f"installing {len(todo)} package(s) the base lacks",
        )
    return build.pin_names(todo)


def _import_check(
    plan: CreatePlan,
    runner: build.Runner,
    target: Path,
    work: _WorkDir,
    installed: set[str] | None,
    config: HaiEnvConfig,
    started: build.Started | None = None,
) -> dict:
    """Probe the new env and import what was asked for (skipping what comes unchanged from
    the base); the base's site-packages must be on its path. Returns what the probe saw."""
    site_dirs = [str(build.site_packages_of(target))]
    check = [r.name for r in plan.requested]
    if plan.base is not None:
        site_dirs.append(plan.base.site_packages)
        if installed is not None:
            requires = requirement_map(plan.base.site_packages)
            check, unchanged = affected_by(check, installed, requires)
            if unchanged:
                runner.log(
                    f"import check: {' '.join(unchanged)} come unchanged from base "
                    f"{plan.base.name} (checked when it was built)"
                )
    if plan.base is not None and (not check or not config.import_check):
        known = _known_from_base(plan.base, target, config)
        if known is not None:
            runner.log(
                "\n### checking the interpreter\nskipped: nothing to import, and the env "
                f"runs base {plan.base.name}'s interpreter {known['interpreter']} "
                f"(python {known['python_version']}) with its site-packages layered under"
            )
            return known
    env_python = str(target / "bin" / "python")
    probed = build.probe(
        runner,
        env_python,
        check,
        site_dirs,
        work / "probe.json",
        verify=config.import_check,
        started=started,
    )
    if plan.base is not None:
        on_path = {os.path.realpath(p) for p in probed["sys_path"]}
        if os.path.realpath(plan.base.site_packages) not in on_path:
            raise BuildFailed("the base's site-packages is not on the new env's sys.path")
    return probed


def _known_from_base(base: EnvInfo, target: Path, config: HaiEnvConfig) -> dict | None:
    """What :func:`haienv.build.probe` would report for an env extending ``base`` that
    needs no import check, known without running its interpreter (~15-30 ms): the env's
    ``bin/python`` is the interpreter the base was probed with when it was built, uv found
    the same version in it (``pyvenv.cfg``), and the ``.pth`` layer names the base's
    site-packages, which is there. None when any of that is not so (the probe runs)."""
    meta = read_json(Store(config).meta_path(base.name, True)) or {}
    interpreter = meta.get("interpreter")
    if not interpreter or not base.platform:
        return None
    if os.path.realpath(target / "bin" / "python") != interpreter:
        return None
    if build.pyvenv_version(target) != base.python_version:
        return None
    site = build.site_packages_of(target)
    if not (site / build.BASE_LAYER_PTH).is_file() or not os.path.isdir(base.site_packages):
        return None
    return {
        "python_version": base.python_version,
        "platform": base.platform,
        "interpreter": interpreter,
        "purelib": str(site),
        "prefix": str(target),
    }


@contextlib.contextmanager
def _build_slot(folder: Path, name: str, python: str) -> Iterator[Path]:
    """A hidden folder to build in, reused by later builds with the same interpreter.

    uv remembers what it learned about an interpreter per path; a reused build path saves a
    query of the new env's python (~50 ms, a third of an extending create). The slot's name
    includes a hash of the real interpreter, so a remembered answer is never about another
    Python. When every slot is busy a fresh ``.<name>.build-*`` folder is used instead.
    """
    key = f"{zlib.crc32(os.path.realpath(python).encode()):08x}"  # hashlib: ~5 ms to import
    for n in range(_SLOTS):
        with flocked(folder / f".build-{key}-{n}.lock", wait=False, mode=0o664) as fd:
            if fd is None:
                continue
            path = folder / f".build-{key}-{n}"
            if path.exists() or path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)  # left by a process that died
            yield path
            return
    yield folder / f".{name}.build-{_token()}"


_SLOTS = 4


def _token() -> str:
    """8 random hex digits for a unique folder name (``secrets.token_hex(4)``, which
    would import hashlib: ~5 ms of a create)."""
    return os.urandom(4).hex()


def _remove_leftovers(folder: Path, name: str) -> None:
    for pattern in (f".{name}.build-*", f".{name}.removing-*"):
        for p in folder.glob(pattern):
            shutil.rmtree(p, ignore_errors=True)


def create_env(
    name: str, *, config: HaiEnvConfig | None = None, progress=None, **kwargs
) -> EnvInfo:
    """Plan and build in one call (the Python API of ``haienv create``; ``kwargs`` are the
    fields of :class:`CreateRequest`)."""
    config = config if config is not None else Settings()
    plan = plan_request(CreateRequest(name, **kwargs), config=config)
    return execute(plan, config=config, progress=progress)


def dependents(config: HaiEnvConfig, base: EnvInfo) -> list[str]:
    """``user/name`` of the envs (of every user whose folder is readable) extending base."""
    out = []
    users = config.root_path / config.users_dir_name
    for meta_path in sorted(users.glob("*/*.json")):
        meta = read_json(meta_path) or {}
        if meta.get("extends_path") == base.path:
            out.append(f"{meta_path.parent.name}/{meta_path.stem}")
    return out


def check_removable(name: str, *, config: HaiEnvConfig, shared: bool = False) -> None:
    """EnvNotFound (naming a shared base of that name, if any) unless ``name`` exists."""
    store = Store(config)
    check_name(name)
    if not store.meta_path(name, shared).exists() and not store.env_path(name, shared).exists():
        what = "shared base" if shared else "environment"
        hint = " (a shared base? add --shared)" if not shared and store.info(name, True) else ""
        raise EnvNotFound(f"no {what} named {name!r}{hint}")


def remove_env(
    name: str, *, config: HaiEnvConfig | None = None, shared: bool = False, force: bool = False
) -> None:
    """Delete an env (any status) with its metadata and log. A shared base that other envs
    extend is refused unless ``force``."""
    config = config if config is not None else Settings()
    store = Store(config)
    check_removable(name, config=config, shared=shared)
    folder = store.folder(shared)
    final = store.env_path(name, shared)
    meta_path = store.meta_path(name, shared)
    with store.locked(name, shared, "removing"):
        if shared and not force:
            info = store.info(name, True)
            users = dependents(config, info) if info else []
            if users:
                raise HaiEnvError(
                    f"base {name!r} is extended by {', '.join(users)}; remove those first or "
                    "pass --force"
                )
        if final.exists():
            trash = folder / f".{name}.removing-{_token()}"
            os.rename(final, trash)
        for p in (meta_path, store.log_path(name, shared)):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        _remove_leftovers(folder, name)
        with contextlib.suppress(FileNotFoundError):
            store.lock_path(name, shared).unlink()
