"""``HaienvKernelSpecManager``: the kernel specs of jupyter_client plus one per ready haienv env.

Enabled by ``c.ServerApp.kernel_spec_manager_class = "haienv_kernels.HaienvKernelSpecManager"``,
or by installing the package (see :mod:`haienv_kernels.extension`).

The listing leaves each haienv spec's ``env`` empty: the env's activation
(``haienv.env_vars``: VIRTUAL_ENV, PATH, ...) is computed by ``get_kernel_spec``, which
jupyter_server calls when it starts a kernel (and for ``GET /api/kernelspecs/<name>``), so
it is checked and current at that moment, and a listing need not read every env's metadata
a second time.

A listing costs almost nothing: the envs come from ``haienv.list_envs`` (metadata files only)
and are re-read only when ``haienv.change_token`` changes (a few ``stat`` calls); whether an
env can run a kernel is decided from its site-packages folders (:mod:`.ipykernel_check`),
re-checked at the next change, and on every listing for the envs skipped for want of
ipykernel (one ``stat`` each). When nothing changed, the specs built last time are returned
as they are.

Envs that are not offered (creating, failed, no ipykernel reachable, a name taken by another
env) are **skipped with one log line** each, logged again only when the reason changes.
"""

from __future__ import annotations

import os

from jupyter_client.kernelspec import NATIVE_KERNEL_NAME, KernelSpecManager, NoSuchKernel
from traitlets import Bool, Instance, List, TraitError, Unicode, default, observe, validate

import haienv

from . import specs
from .ipykernel_check import IpykernelCheck
from .specs import BASE, OWN, SHARED


class HaienvKernelSpecManager(KernelSpecManager):
    """Kernel specs of the user's haienv envs and the shared bases (and, if asked, other
    users' envs), next to the usual kernel specs."""

    include_own = Bool(True, help="Offer a kernel for each of the user's ready envs.").tag(
        config=True
    )
    include_bases = Bool(True, help="Offer a kernel for each ready shared base env.").tag(
        config=True
    )
    include_shared_of = List(
        Unicode(),
        help="Other users whose ready envs are offered too (read-only for this user: their "
        "folders must be readable). Kernel names use shared_name_format.",
    ).tag(config=True)
    name_format = Unicode(
        "haienv-{name}",
        help="Kernel name of the user's envs and the shared bases (one namespace, like "
        "`haienv` itself: the user's env wins over a base of the same name). Fields: "
        + specs.FIELDS_HELP,
    ).tag(config=True)
    shared_name_format = Unicode(
        "haienv-{owner}.{name}",
        help="Kernel name of other users' envs (include_shared_of). Env names have no '.', "
        "so the default cannot collide with name_format's.",
    ).tag(config=True)
    display_name_format = Unicode(
        "{name} (Python {python_version})", help="Launcher name of the user's envs."
    ).tag(config=True)
    base_display_name_format = Unicode(
        "{name} (base, Python {python_version})", help="Launcher name of the shared bases."
    ).tag(config=True)
    shared_display_name_format = Unicode(
        "{name} ({owner}, Python {python_version})", help="Launcher name of other users' envs."
    ).tag(config=True)
    keep_default_kernel = Bool(
        True, help="Keep the default 'python3' kernel (the server's own Python) in the list."
    ).tag(config=True)
    pip_shim = Bool(
        True,
        help="Put haienv_kernels' `pip` right after the env's bin on the kernel's PATH, so "
        "`!pip install x` installs into the env (python -m pip if the env can import pip, "
        "else `uv pip`).",
    ).tag(config=True)
    warm_on_start = Bool(
        True,
        help="Build the haienv listing when the manager is created (server start), so the "
        "first /api/kernelspecs does not read every env's metadata (~0.2 ms per env).",
    ).tag(config=True)
    haienv_config = Instance(
        haienv.HaiEnvConfig,
        help="Where the envs are (root, user, ...). Default: a HaiEnvConfig configured by "
        "this server's config (c.HaiEnvConfig.root = ...), else $HAIENV_ROOT / $HAIENV_USER / "
        "$JUPYTERHUB_USER.",
    )

    @default("haienv_config")
    def _default_haienv_config(self) -> haienv.HaiEnvConfig:
        return haienv.HaiEnvConfig(parent=self)

    @validate(
        "name_format",
        "shared_name_format",
        "display_name_format",
        "base_display_name_format",
        "shared_display_name_format",
    )
    def _check_format(self, proposal):
        try:
            return specs.check_format(proposal["value"])
        except ValueError as exc:
            raise TraitError(str(exc)) from None

    @observe(
        "include_own",
        "include_bases",
        "name_format",
        "shared_name_format",
        "display_name_format",
        "base_display_name_format",
        "shared_display_name_format",
        "allowed_kernelspecs",
    )
    def _settings_changed(self, change) -> None:
        self._sig = None  # rebuild the specs at the next listing

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._check = IpykernelCheck()
        self._tokens: tuple | None = None
        self._envs: list[tuple[str, haienv.EnvInfo, haienv.HaiEnvConfig]] = []
        self._bases: dict[str, haienv.EnvInfo] = {}
        self._sig: tuple | None = None
        self._models: dict[str, dict] = {}
        self._sources: dict[str, tuple[haienv.EnvInfo, haienv.HaiEnvConfig]] = {}
        self._watch: list[str] = []
        self._reported: dict[str, str] = {}
        self._uv: str | None = None
        self._config_key: tuple | None = None
        self._config_list: list[tuple[str, haienv.HaiEnvConfig]] = []
        if self.warm_on_start:
            self._haienv_models()

    # -- jupyter_client's interface -----------------------------------------------------------
    def find_kernel_specs(self) -> dict[str, str]:
        """Kernel names -> resource folders: the native kernel specs, then the haienv ones."""
        out = self._native_names()
        out.update({name: m["resource_dir"] for name, m in self._haienv_models().items()})
        return out

    def get_kernel_spec(self, kernel_name: str):
        """The :class:`KernelSpec` of a haienv kernel (from the cache, refreshed by change),
        else of a native one."""
        model = self._haienv_models().get(kernel_name)
        if model is not None:
            info, cfg = self._sources[kernel_name]
            try:
                env = specs.kernel_env(info, cfg, pip_shim=self._shim(), uv=self._uv_path())
            except haienv.HaiEnvError as exc:  # changed since the listing was cached
                self.log.warning("haienv kernel %s cannot start: %s", kernel_name, exc)
                raise NoSuchKernel(kernel_name) from None
            spec = {**model["spec"], "env": env}
            return self.kernel_spec_class(resource_dir=model["resource_dir"], **spec)
        if kernel_name.lower() == NATIVE_KERNEL_NAME and not self.keep_default_kernel:
            raise NoSuchKernel(kernel_name)
        return super().get_kernel_spec(kernel_name)

    def get_all_specs(self) -> dict[str, dict]:
        """``{name: {"resource_dir", "spec"}}`` for the native specs; for the haienv ones the
        cached full REST models (``name``, ``spec``, ``resources`` and ``resource_dir``), which
        jupyter_server's handler passes through as they are instead of probing each spec's
        folder in a thread of its own."""
        res: dict[str, dict] = {}
        for name, resource_dir in self._native_names().items():
            try:
                spec = super().get_kernel_spec(name)
            except NoSuchKernel:
                continue
            except Exception:
                self.log.warning("Error loading kernelspec %r", name, exc_info=True)
                continue
            res[name] = {"resource_dir": resource_dir, "spec": spec.to_dict()}
        res.update(self._haienv_models())
        return res

    # -- natives --------------------------------------------------------------------------------
    def _native_names(self) -> dict[str, str]:
        found = super().find_kernel_specs()
        if not self.keep_default_kernel:
            found.pop(NATIVE_KERNEL_NAME, None)
        return found

    # -- the haienv specs, cached by change ------------------------------------------------
    def _configs(self) -> list[tuple[str, haienv.HaiEnvConfig]]:
        own = self.haienv_config
        key = (id(own), own.root, own.user, tuple(self.include_shared_of))
        if self._config_key != key:
            out = [(OWN, own)]
            for user in dict.fromkeys(self.include_shared_of):
                if user and user != own.user:
                    other = haienv.HaiEnvConfig(parent=self, root=own.root, user=user)
                    other.base_dir_name = own.base_dir_name
                    other.users_dir_name = own.users_dir_name
                    out.append((SHARED, other))
            self._config_list, self._config_key = out, key
        return self._config_list

    def _haienv_models(self) -> dict[str, dict]:
        """The haienv kernels' REST models, rebuilt only when something changed. Never
        raises: a broken haienv root gives no haienv kernels and one error line."""
        try:
            configs = self._configs()
            tokens = tuple(haienv.change_token(cfg) for _, cfg in configs)
            if tokens != self._tokens:
                self._collect(configs)
                self._tokens, self._sig = tokens, None
            if self._sig is None or self._signature() != self._sig:
                self._models = self._build()
                self._sig = tuple(self._check.seen_mtime(d) for d in self._watch)
            self._reported.pop("*", None)
        except Exception as exc:
            self._report("*", f"haienv kernels unavailable: {exc}", error=True, exc_info=True)
            self._tokens, self._sig, self._models, self._sources = None, None, {}, {}
        return self._models

    def _collect(self, configs) -> None:
        envs: list[tuple[str, haienv.EnvInfo, haienv.HaiEnvConfig]] = []
        bases: dict[str, haienv.EnvInfo] = {}
        for scope, cfg in configs:
            for info in haienv.list_envs(cfg, include_bases=scope == OWN):
                if info.is_base:
                    bases[info.path] = info
                    envs.append((BASE, info, cfg))
                else:
                    envs.append((scope, info, cfg))
        self._envs, self._bases = envs, bases

    def _site_dirs(self, info: haienv.EnvInfo) -> list[str]:
        dirs = [info.site_packages]
        if info.extends_path:
            base = self._bases.get(info.extends_path)
            if base is not None and base.site_packages:
                dirs.append(base.site_packages)
            elif info.site_packages:  # same Python, so the same layout
                rel = os.path.relpath(info.site_packages, info.path)
                dirs.append(os.path.join(info.extends_path, rel))
        return dirs

    def _signature(self) -> tuple:
        """The mtimes of the site-packages folders of the envs skipped for want of ipykernel
        (and of their bases): installing ipykernel into one changes its folder's mtime, and
        the env is offered at the next listing. Envs that have ipykernel are re-checked at
        the next change of the metadata, so a listing stats only the few skipped ones."""
        return tuple(self._check.folder_mtime(d) for d in self._watch)

    def _wanted(self, kind: str) -> bool:
        return {OWN: self.include_own, BASE: self.include_bases, SHARED: True}[kind]

    def _build(self) -> dict[str, dict]:
        with self._check.one_pass():
            return self._build_models()

    def _build_models(self) -> dict[str, dict]:
        """The REST model of every env offered; one log line for each env skipped."""
        user = self.haienv_config.user
        own_names = {i.name for k, i, _ in self._envs if k == OWN}
        resource_dir = self._resource_dir()
        files = specs.resource_files(resource_dir)
        base_url = getattr(self.parent, "base_url", "/") or "/"
        natives = set(super().find_kernel_specs())
        allowed = self.allowed_kernelspecs
        models: dict[str, dict] = {}
        sources: dict[str, tuple[haienv.EnvInfo, haienv.HaiEnvConfig]] = {}
        watch: dict[str, None] = {}
        seen: set[str] = set()
        for kind, info, cfg in self._envs:
            if not self._wanted(kind):
                continue
            key = f"{kind}:{info.owner}:{info.name}"
            seen.add(key)
            what = {OWN: "env", BASE: "shared base", SHARED: f"{info.owner}'s env"}[kind]
            fields = specs.format_fields(info, kind, user)
            fmt = self.shared_name_format if kind == SHARED else self.name_format
            kname = fmt.format_map(fields)
            reason = None
            if not info.ready:
                reason = f"it is {info.status}" + (f": {info.reason}" if info.reason else "")
            elif kind == BASE and info.name in own_names:
                reason = f"your env {info.name!r} has the same name (haienv resolves it first)"
            elif not specs.KERNEL_NAME_RE.match(kname):
                reason = f"kernel name {kname!r} is not valid (letters, digits and '._-' only)"
            elif kname in models:
                reason = f"kernel name {kname!r} is taken by another haienv env"
            elif allowed and kname not in allowed:
                reason = "not in KernelSpecManager.allowed_kernelspecs"
            elif not os.path.exists(info.python):
                reason = f"its interpreter {info.python} is missing"
            elif self._check.find(site_dirs := self._site_dirs(info)) is None:
                watch.update(dict.fromkeys(site_dirs))
                reason = (
                    "no ipykernel reachable (neither in the env nor in its base); install it: "
                    f"`source haienv {info.name} && uv pip install ipykernel`, or extend a base "
                    "that has it"
                )
            if reason is not None:
                level_warn = info.ready or info.status == haienv.FAILED
                self._report(
                    key,
                    f"haienv {what} {info.name!r} is not offered as a kernel: {reason}",
                    warn=level_warn,
                )
                continue
            if kname in natives:
                self._report(
                    f"native:{kname}", f"haienv kernel {kname!r} hides a kernel spec of that name"
                )
            dfmt = {
                OWN: self.display_name_format,
                BASE: self.base_display_name_format,
                SHARED: self.shared_display_name_format,
            }[kind]
            spec = specs.kernel_spec_dict(info, kind, dfmt.format_map(fields), {})
            sources[kname] = (info, cfg)
            models[kname] = {
                "name": kname,
                "spec": spec,
                "resources": specs.resources(base_url, kname, files),
                "resource_dir": resource_dir,
            }
            if self._reported.pop(key, None) is not None:
                self.log.info("haienv %s %r is offered as kernel %s", what, info.name, kname)
        for key in [k for k in self._reported if ":" in k and k.split(":", 1)[0] != "native"]:
            if key not in seen:
                del self._reported[key]
        self.log.debug("haienv kernels: %d offered of %d envs", len(models), len(self._envs))
        self._sources, self._watch = sources, list(watch)
        return models

    def _resource_dir(self) -> str:
        """Logos: the native python3 kernel's (a Python logo), else haienv_kernels' own."""
        native = super().find_kernel_specs().get(NATIVE_KERNEL_NAME)
        if native and any(f.startswith("logo-") for f in specs.resource_files(native)):
            return native
        return specs.OWN_RESOURCES

    def _shim(self) -> bool:
        if not self.pip_shim:
            return False
        if os.access(os.path.join(specs.SHIM_DIR, "pip"), os.X_OK):
            return True
        self._report("shim", f"pip shim {specs.SHIM_DIR}/pip is not executable; not used")
        return False

    def _uv_path(self) -> str | None:
        if self._uv is None:
            self._uv = self.haienv_config.uv or ""
        return self._uv or None

    def _report(
        self, key: str, message: str, *, warn: bool = True, error: bool = False, exc_info=False
    ) -> None:
        """Log ``message`` once per ``key`` until it changes (each listing would repeat it)."""
        if self._reported.get(key) == message:
            return
        self._reported[key] = message
        if error:
            self.log.error(message, exc_info=exc_info)
        elif warn:
            self.log.warning(message)
        else:
            self.log.info(message)
