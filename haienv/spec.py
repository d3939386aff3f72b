"""What the user asked for, as plain data: requirement names, environment.yaml, constraints.

Pure functions over text and files; no uv, no subprocesses. ``base_constraints`` is the rule
that makes extending incremental: every distribution the base has is pinned to the base's
version, except packages the user explicitly asks for in a version the base does not have.
"""

from __future__ import annotations

import os
import re
from collections import namedtuple
from pathlib import Path, PurePosixPath

from .errors import InvalidInput

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from packaging.requirements import Requirement

_REQ_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")
#: a requirement that is only a project name (PEP 508's rule for names)
_PLAIN_NAME_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")
_CONDA_TOOLS = ("micromamba", "mamba", "conda")


def canonical(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


class Frozen:
    """Mixed into a named tuple that stands for a frozen dataclass: assigning to (or
    deleting) an attribute raises :class:`dataclasses.FrozenInstanceError`, as it did.
    Named tuples rather than dataclasses, because ``haienv create`` must start fast and
    dataclasses imports inspect (~10 ms of a create that takes tens, issue #15)."""

    __slots__ = ()

    def __setattr__(self, name: str, value: object) -> None:
        _frozen("assign to", name)

    def __delattr__(self, name: str) -> None:
        _frozen("delete", name)


def _frozen(what: str, name: str) -> None:
    import dataclasses  # only to raise its error: a create never imports it (start-up)

    raise dataclasses.FrozenInstanceError(f"cannot {what} field {name!r}")


class Requested(Frozen, namedtuple("Requested", ("name", "spec"))):
    """One named top-level requirement: ``spec`` is '' (any version), a specifier or '@ url'.
    Immutable (a named tuple, not a dataclass: start-up, see :class:`Frozen`)."""

    __slots__ = ()


def parsed_requirement(line: str) -> str | Requirement | None:
    """A requirement line parsed: a canonical name when it is only a name (no need for
    the 'packaging' library, ~10 ms to import), else packaging's ``Requirement``; None when
    it is not a requirement (an option, a path)."""
    text = line.strip()
    if _PLAIN_NAME_RE.fullmatch(text):
        return canonical(text)
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        return Requirement(text)
    except InvalidRequirement:
        return None


def requirement_name(line: str) -> str | None:
    """The canonical project name of a requirement line (None: not a requirement)."""
    req = parsed_requirement(line)
    return req if req is None or isinstance(req, str) else canonical(req.name)


def parse_requirement(line: str) -> Requested | None:
    """Name and version part of one requirement line, or None when it has no plain name
    (a bare path or URL, an option)."""
    line = line.split(" #", 1)[0].strip()
    if not line or line.startswith(("#", "-")):
        return None
    m = _REQ_RE.match(line)
    if m is None:
        return None
    name, _extras, rest = m.groups()
    if "/" in name or name.endswith((".whl", ".tar.gz", ".zip")):
        return None
    rest = rest.split(";", 1)[0].strip()
    if rest and not rest.startswith(("@", "=", "<", ">", "!", "~", "(")):
        return None
    return Requested(canonical(name), rest.strip("()").strip())


def requested_from(packages: list[str], files: list[Path]) -> list[Requested]:
    """Named requirements from command-line packages and requirement files (following
    nested ``-r``)."""
    out: list[Requested] = []
    for p in packages:
        r = parse_requirement(p)
        if r is not None:
            out.append(r)
    seen: set[Path] = set()

    def walk(path: Path) -> None:
        path = path.resolve()
        if path in seen:
            return
        seen.add(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise InvalidInput(f"cannot read requirements file {path}: {exc.strerror}") from None
        for raw in text.splitlines():
            line = raw.strip()
            for opt in ("-r ", "--requirement ", "--requirement="):
                if line.startswith(opt):
                    walk(path.parent / line[len(opt) :].strip())
                    break
            else:
                r = parse_requirement(line)
                if r is not None:
                    out.append(r)

    for f in files:
        walk(Path(f))
    return out


class DistInfo:
    """One ``*.dist-info`` folder, read as :mod:`importlib.metadata` reads it, for the part of
    its ``Distribution`` API haienv uses (``metadata['Name']``, ``version``, ``requires``,
    ``read_text``, ``files``), without importing it: with its e-mail parser that costs
    ~15 ms of a create that takes tens (issue #15). Only METADATA's header is read."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.metadata: dict[str, str] = {}
        self.requires: list[str] | None = None
        text = self.read_text("METADATA") or ""
        for line in text.split("\n\n", 1)[0].splitlines():
            key, sep, value = line.partition(":")
            if not sep or line[:1].isspace():
                continue  # a continued line (only in fields haienv does not read)
            if key == "Requires-Dist":
                self.requires = [*(self.requires or ()), value.strip()]
            else:
                self.metadata.setdefault(key, value.strip())
        self.version = self.metadata.get("Version", "")

    def read_text(self, name: str) -> str | None:
        try:
            return (self.folder / name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    @property
    def files(self) -> list[PurePosixPath] | None:
        """The paths RECORD lists (relative to site-packages), None without a RECORD."""
        record = self.read_text("RECORD")
        if record is None:
            return None
        return [PurePosixPath(line.rsplit(",", 2)[0].strip('"')) for line in record.splitlines()
                if line.strip()]  # fmt: skip


def distributions(site_dirs: list[str]) -> list:
    """The distributions installed in ``site_dirs``, in that order: a :class:`DistInfo` per
    ``*.dist-info`` folder; a folder holding other metadata (``*.egg-info``) is read by
    :mod:`importlib.metadata` instead."""
    out: list = []
    for site_dir in site_dirs:
        try:
            entries = sorted(os.listdir(site_dir))
        except OSError:
            continue
        if any(e.endswith(".egg-info") for e in entries):
            from importlib import metadata as _md

            out += _md.distributions(path=[str(site_dir)])
            continue
        found = (DistInfo(Path(site_dir, e)) for e in entries if e.endswith(".dist-info"))
        out += [d for d in found if d.metadata.get("Name")]
    return out


def installed_distributions(site_packages: str | os.PathLike) -> dict[str, str]:
    """``{canonical name: version}`` of what is installed in one site-packages folder,
    read from ``*.dist-info`` metadata (no subprocess)."""
    out: dict[str, str] = {}
    for dist in distributions([str(site_packages)]):
        name = dist.metadata["Name"] if dist.metadata else None
        if name:
            out.setdefault(canonical(name), dist.version)
    return out


def requirement_map(site_packages: str | os.PathLike) -> dict[str, set[str]]:
    """``{name: names it requires}`` for one site-packages folder (markers and extras are
    ignored, so the map over-approximates)."""
    out: dict[str, set[str]] = {}
    for dist in distributions([str(site_packages)]):
        name = dist.metadata["Name"] if dist.metadata else None
        if not name:
            continue
        deps = set()
        for req in dist.requires or ():
            if "extra" in req.partition(";")[2]:
                continue  # only installed when asked for, by name
            m = _REQ_RE.match(req.strip())
            if m:
                deps.add(canonical(m.group(1)))
        out.setdefault(canonical(name), deps)
    return out


def affected_by(
    requested: list[str], installed: set[str], requires: dict[str, set[str]]
) -> tuple[list[str], list[str]]:
    """Split requested names of an extending env into (those whose files or dependency
    closure include something the env itself installed, those that come unchanged from the
    base). Only the first need an import check: the others import exactly what the base
    imported when it was checked."""
    changed, unchanged = [], []
    for name in requested:
        key = canonical(name)
        seen, todo = set(), [key]
        hit = key not in requires  # not in the base at all: the env's own (or missing)
        while todo and not hit:
            n = todo.pop()
            if n in seen:
                continue
            seen.add(n)
            hit = n in installed
            todo.extend(requires.get(n, ()))
        (changed if hit else unchanged).append(name)
    return changed, unchanged


def _version_allowed(version: str, spec: str) -> bool:
    """Does ``version`` satisfy ``spec``? Without the 'packaging' library any explicit
    specifier counts as 'asks for another version'."""
    if not spec or spec.startswith("@"):
        return not spec
    try:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet
    except ImportError:  # pragma: no cover - packaging is nearly always present
        return False
    try:
        return SpecifierSet(spec).contains(version, prereleases=True)
    except InvalidSpecifier:
        return False


def satisfied_by_base(lines: list[str], base: dict[str, str]) -> bool:
    """Does the base already hold every requirement line, so that resolving against it
    (base versions as constraints) installs nothing and the resolver need not run?

    Only plain lines count (a name, a version specifier): an extra may need packages the
    base lacks, a URL or path is what it is, a marker or option is left to the resolver.
    The base was resolved as a whole when it was built, so what these need is there too.
    """
    for line in lines:
        req = parsed_requirement(line)
        if isinstance(req, str):  # only a name: any version the base has
            if req not in base:
                return False
            continue
        if req is None or req.extras or req.url or req.marker is not None:
            return False  # options (-r file), paths, extras, markers
        version = base.get(canonical(req.name))
        if version is None or not req.specifier.contains(version, prereleases=True):
            return False
    return bool(lines)


def base_constraints(base: dict[str, str], requested: list[Requested]) -> list[str]:
    """``name==version`` for every base distribution, minus those the user asks for in a
    version the base does not have (so their request can shadow the base)."""
    asked: dict[str, list[str]] = {}
    for r in requested:
        asked.setdefault(r.name, []).append(r.spec)
    lines = []
    for name, version in sorted(base.items()):
        specs = asked.get(name, [])
        if any(not _version_allowed(version, s) for s in specs):
            continue
        lines.append(f"{name}=={version}")
    return lines


# -- environment.yaml ----------------------------------------------------------------------
class EnvironmentFile(
    namedtuple("EnvironmentFile", ("python", "name", "pip", "conda", "channels"),
               defaults=(None, None, (), (), ()))
):  # fmt: skip
    """The parts of a conda ``environment.yaml`` haienv honours: ``python`` (a request uv
    understands, or None), ``name`` (the file's ``name:``, the env's name when none is
    given), then the lists ``pip``, ``conda`` (conda-only entries) and ``channels``.
    Immutable, its list defaults empty tuples: a named tuple rather than a dataclass, because
    ``haienv create`` must not import dataclasses (and inspect; start-up, issue #15)."""

    __slots__ = ()


def _conda_python(spec: str) -> str | None:
    """``python=3.11`` / ``python==3.11.*`` / ``python>=3.10`` -> a request uv understands."""
    rest = spec[len("python") :].strip()
    if not rest:
        return None
    if rest.startswith("=="):
        rest = rest[2:]
    elif rest.startswith("=") or rest.startswith(" "):
        rest = rest[1:]
    rest = rest.strip()
    if rest[:1].isdigit():
        rest = rest.split("=")[0]  # drop a build string (python=3.11=h123_0)
    if rest.endswith(".*"):
        rest = rest[:-2]
    if not rest:
        return None
    return rest


def parse_environment_file(path: str | os.PathLike) -> EnvironmentFile:
    """Read ``python=``, the ``pip:`` section and everything else (conda-only) from an
    environment.yaml."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{path}: expected a mapping with 'dependencies:'")
    name = data.get("name")
    if name is not None and not isinstance(name, str):
        raise InvalidInput(f"{path}: 'name' must be text")
    channels = data.get("channels") or []
    if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
        raise InvalidInput(f"{path}: 'channels' must be a list of names")
    deps = data.get("dependencies") or []
    if not isinstance(deps, list):
        raise InvalidInput(f"{path}: 'dependencies' must be a list")
    python, pip, conda = None, [], []
    for dep in deps:
        if isinstance(dep, dict) and set(dep) == {"pip"}:
            entries = dep["pip"] or []
            if not isinstance(entries, list) or not all(isinstance(p, str) for p in entries):
                raise InvalidInput(f"{path}: the 'pip:' section must be a list of requirements")
            pip.extend(entries)
        elif isinstance(dep, str | int | float):
            spec = str(dep).strip()
            bare = spec.split("::")[-1]
            dep_name = re.split(r"[\s=<>!~]", bare, maxsplit=1)[0].lower()
            if dep_name == "python":
                python = _conda_python(bare)
            elif dep_name == "pip":
                continue  # uv does the pip part
            else:
                conda.append(spec)
        else:
            raise InvalidInput(f"{path}: unsupported dependency entry {dep!r}")
    return EnvironmentFile(python, name, pip, conda, list(channels))


def find_conda() -> str | None:
    """The first of micromamba, mamba, conda on PATH."""
    import shutil  # not at import: only an environment.yaml with conda entries needs it

    for tool in _CONDA_TOOLS:
        found = shutil.which(tool)
        if found:
            return found
    return None
