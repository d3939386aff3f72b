"""Benchmark: how fast and how small haienv envs are, next to `python -m venv` + pip.

One run, side by side, all from the same local wheel folder (no index):

  (a) python -m venv + pip install PACKAGES              the usual way
  (b) haienv create, standalone, cold uv cache           "from scratch"
  (b') haienv create, standalone, warm uv cache
  (c) haienv create extending a base that has PACKAGES   (warm cache: nothing to install)
  (d) haienv create extending that base + 1 cached package the base lacks
  (e) like (c) through the command line (process start + imports included)
  (f) the command line extending a base that lacks PACKAGES (they are installed)
  (u) plain `uv venv` + `uv pip install PACKAGES`, warm cache: uv's own floor

Disk: bytes a child env adds beyond the shared uv cache, counted like `du` (allocated blocks,
each inode once, files hardlinked from the cache not counted), next to its apparent size.

Usage:
  python benchmarks/bench_haienv.py                    # six, idna, numpy (+ packaging)
  python benchmarks/bench_haienv.py --synthetic        # tiny generated wheels, no downloads
  python benchmarks/bench_haienv.py --wheels DIR --packages a,b --extra c
  python benchmarks/bench_haienv.py --synthetic --compare DIR   # (e), (f) also from DIR
Wheels are fetched once with `pip download` from whatever index pip is configured with.
Exit status 2 when a target is missed: (d) < 0.2 s, (a)/(d) >= 20x, (c) adds < 5 MB,
(f) <= (u), (u)/(e) >= 2x, (f) adds no more disk beyond the cache than (u).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import haienv
from haienv.config import HaiEnvConfig


def synthetic_wheels(folder: Path, names: list[str]) -> None:
    for name in names:
        dist = f"{name}-1.0.dist-info"
        files = {
            f"{name}/__init__.py": "__version__ = '1.0'\n",
            f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
            f"{dist}/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        }
        record = []
        with zipfile.ZipFile(folder / f"{name}-1.0-py3-none-any.whl", "w") as z:
            for path, text in files.items():
                data = text.encode()
                z.writestr(path, data)
                h = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
                record.append(f"{path},sha256={h.decode()},{len(data)}")
            z.writestr(f"{dist}/RECORD", "\n".join([*record, f"{dist}/RECORD,,"]) + "\n")


def download(folder: Path, names: list[str]) -> bool:
    pip = [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:"]
    proc = subprocess.run(
        [*pip, "-d", folder, *names],
        capture_output=True,
        text=True,
    )
    return proc.returncode == 0


def du(path: Path, exclude_inodes: set[tuple[int, int]] | None = None) -> int:
    """Allocated bytes under ``path``, each inode once, minus ``exclude_inodes``."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, dirnames, filenames in os.walk(path):
        for entry in [dirpath] + [os.path.join(dirpath, n) for n in filenames + dirnames]:
            st = os.lstat(entry)
            key = (st.st_dev, st.st_ino)
            if key in seen or (exclude_inodes and key in exclude_inodes):
                continue
            seen.add(key)
            total += st.st_blocks * 512
    return total


def apparent(path: Path) -> int:
    return sum(os.lstat(p).st_size for p in path.rglob("*") if not p.is_dir())


def inodes(path: Path) -> set[tuple[int, int]]:
    out = set()
    for p in path.rglob("*"):
        st = os.lstat(p)
        out.add((st.st_dev, st.st_ino))
    return out


def timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def mb(n: float) -> str:
    return f"{n / 1e6:.2f} MB"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packages", default="six,idna,numpy")
    ap.add_argument("--extra", default="packaging", help="the package the base lacks (d)")
    ap.add_argument("--wheels", help="use this wheel folder instead of downloading")
    ap.add_argument("--synthetic", action="store_true", help="generated tiny wheels only")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument(
        "--compare",
        type=Path,
        help="another checkout's source folder: (e) and (f) also with PYTHONPATH=DIR, "
        "interleaved in the same rounds",
    )
    args = ap.parse_args()
    packages = [p for p in args.packages.split(",") if p]
    extra = args.extra

    work = Path(tempfile.mkdtemp(prefix="bench-haienv-"))
    try:
        if args.wheels:
            wheels, source = Path(args.wheels), f"wheel folder {args.wheels}"
        else:
            wheels = work / "wheels"
            wheels.mkdir()
            if args.synthetic or not download(wheels, [*packages, extra]):
                packages, extra = ["benchpkga", "benchpkgb"], "benchpkgc"
                synthetic_wheels(wheels, [*packages, extra])
                source = "synthetic wheels (download unavailable or --synthetic)"
            else:
                source = "wheels from `pip download` (configured index)"
        files = sorted(p.name for p in wheels.glob("*.whl"))
        root = work / "root"
        config = HaiEnvConfig(
            root=str(root), user="bench", find_links=[str(wheels)], no_index=True, default_base=""
        )
        os.environ.setdefault("UV_OFFLINE", "1")
        results: dict[str, object] = {
            "python": platform.python_version(),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "packages": packages,
            "extra": extra,
            "wheels": files,
            "source": source,
        }

        # (a) python -m venv + pip ------------------------------------------------------------
        pip_times = []
        for i in range(min(args.repeat, 3)):
            target = work / f"venv-pip-{i}"
            cmd = (
                f"{sys.executable} -m venv {target} && {target}/bin/pip install -q --isolated "
                f"--disable-pip-version-check --no-index --find-links {wheels} "
                + " ".join(packages)
            )
            t, proc = timed(lambda c=cmd: subprocess.run(c, shell=True, capture_output=True))
            if proc.returncode != 0:
                sys.exit(f"venv+pip failed: {proc.stderr.decode()[-500:]}")
            pip_times.append(t)
        a = statistics.median(pip_times)
        a_disk = du(work / "venv-pip-0")

        # (b) standalone, cold then warm cache -----------------------------------------------
        b_cold, _ = timed(
            lambda: haienv.create_env("solo-cold", config=config, packages=packages, extend=False)
        )
        b_warm_times = []
        for i in range(args.repeat):
            t, _ = timed(
                lambda i=i: haienv.create_env(
                    f"solo-{i}", config=config, packages=packages, extend=False
                )
            )
            b_warm_times.append(t)
        b_warm = statistics.median(b_warm_times)
        # warm the cache with the extra package (as if someone had installed it before)
        haienv.create_env("warm-extra", config=config, packages=[extra], extend=False)

        # the base, then (c) and (d) -----------------------------------------------------------
        base_t, base = timed(
            lambda: haienv.create_env("base", config=config, packages=packages, shared=True)
        )
        c_times, d_times = [], []
        for i in range(args.repeat):
            t, _ = timed(
                lambda i=i: haienv.create_env(
                    f"ext-{i}", config=config, packages=packages, base="base"
                )
            )
            c_times.append(t)
            t, _ = timed(
                lambda i=i: haienv.create_env(
                    f"extra-{i}", config=config, packages=[*packages, extra], base="base"
                )
            )
            d_times.append(t)
        c, d = statistics.median(c_times), statistics.median(d_times)

        # (e), (f) through the command line, interleaved with plain uv (u) -----------------
        env = dict(os.environ, HAIENV_ROOT=str(root), HAIENV_USER="bench")
        (root / "haienv_config.json").write_text(
            json.dumps({"HaiEnvConfig": {"find_links": [str(wheels)], "no_index": True}})
        )
        haienv.create_env("bare", config=config, packages=[], shared=True)  # lacks them all
        uv_env = dict(env, UV_CACHE_DIR=str(config.uv_cache_dir), UV_OFFLINE="1")
        e_times, f_times, u_times, e_old, f_old = [], [], [], [], []
        old_env = dict(env, PYTHONPATH=str(args.compare.resolve())) if args.compare else None

        def cli(name: str, base_name: str, run_env: dict[str, str] = env) -> float:
            cmd = [sys.executable, "-m", "haienv", "create", name, *packages]
            t, proc = timed(
                lambda: subprocess.run(  # cwd: `-m` puts it first on sys.path
                    [*cmd, "--base", base_name, "-y"], env=run_env, capture_output=True, cwd=work
                )
            )
            if proc.returncode != 0:
                sys.exit(f"cli create failed: {proc.stderr.decode()[-500:]}")
            return t

        for i in range(max(args.repeat, 3)):
            e_times.append(cli(f"cli-{i}", "base"))
            f_times.append(cli(f"cli-bare-{i}", "bare"))
            if old_env is not None:
                e_old.append(cli(f"old-{i}", "base", old_env))
                f_old.append(cli(f"old-bare-{i}", "bare", old_env))
            target = work / f"uv-{i}"
            cmd = (
                f"{config.uv} venv -q --python {sys.executable} {target} && {config.uv} pip "
                f"install -q --python {target}/bin/python --no-index --find-links {wheels} "
                + " ".join(packages)
            )
            t, proc = timed(
                lambda c=cmd: subprocess.run(c, shell=True, env=uv_env, capture_output=True)
            )
            if proc.returncode != 0:
                sys.exit(f"uv failed: {proc.stderr.decode()[-500:]}")
            u_times.append(t)
        e, f, u = (statistics.median(x) for x in (e_times, f_times, u_times))

        # disk -------------------------------------------------------------------------------
        cache = inodes(Path(config.uv_cache_dir))
        ext0 = Path(haienv.get_env("ext-0", config).path)
        extra0 = Path(haienv.get_env("extra-0", config).path)
        solo0 = Path(haienv.get_env("solo-0", config).path)
        bare0 = Path(haienv.get_env("cli-bare-0", config).path)
        disk = {
            "uv_beyond_cache": du(work / "uv-0", cache),
            "cli_over_bare_base_beyond_cache": du(bare0, cache),
            "venv_pip": a_disk,
            "standalone_apparent": apparent(solo0),
            "standalone_beyond_cache": du(solo0, cache),
            "extending_apparent": apparent(ext0),
            "extending_beyond_cache": du(ext0, cache),
            "extending_plus_extra_apparent": apparent(extra0),
            "extending_plus_extra_beyond_cache": du(extra0, cache),
            "base": du(Path(base.path)),
        }
        results.update(
            venv_pip_s=a,
            standalone_cold_s=b_cold,
            standalone_warm_s=b_warm,
            base_create_s=base_t,
            extend_same_s=c,
            extend_plus_one_s=d,
            extend_same_cli_s=e,
            cli_base_lacks_s=f,
            uv_venv_install_s=u,
            ratio_a_over_c=a / c,
            ratio_a_over_d=a / d,
            disk=disk,
            runs={
                "a": pip_times,
                "b": b_warm_times,
                "c": c_times,
                "d": d_times,
                "e": e_times,
                "f": f_times,
                "u": u_times,
            },
        )

        pk = ", ".join(packages)
        print(f"haienv benchmark - python {results['python']}, {results['machine']}")
        print(f"packages: {pk}; extra (d): {extra}; {source}")
        print(f"wheels: {', '.join(files)}")
        print(
            f"median of {args.repeat} runs (a: of {min(args.repeat, 3)}; e, f, u: of "
            f"{max(args.repeat, 3)}, interleaved)\n"
        )
        rows = [
            ("(a) python -m venv + pip install", a, ""),
            ("(b) haienv standalone, cold uv cache", b_cold, "1 run"),
            ("(b') haienv standalone, warm uv cache", b_warm, ""),
            ("(c) haienv extending base (has them)", c, f"{a / c:.0f}x faster than (a)"),
            (f"(d) (c) + {extra} (cached, not in base)", d, f"{a / d:.0f}x faster than (a)"),
            ("(e) (c) via CLI (process start incl.)", e, f"{u / e:.1f}x faster than (u)"),
            ("(f) CLI, extending a base that lacks them", f, f"{u / f:.2f}x the speed of (u)"),
            ("(u) uv venv + uv pip install (warm cache)", u, "plain uv, same wheels, same cache"),
        ]
        if e_old:
            e_o, f_o = statistics.median(e_old), statistics.median(f_old)
            results.update(
                compare=str(args.compare),
                extend_same_cli_compare_s=e_o,
                cli_base_lacks_compare_s=f_o,
            )
            rows += [
                (f"(e) from {args.compare}", e_o, f"{u / e_o:.1f}x faster than (u)"),
                (f"(f) from {args.compare}", f_o, f"{u / f_o:.2f}x the speed of (u)"),
            ]
        for label, t, note in rows:
            print(f"  {label:<44} {t:8.3f} s  {note}")
        print("\ndisk (du: allocated, hardlinks to the uv cache not counted):")
        print(f"  (a) venv + pip                      {mb(disk['venv_pip'])}")
        print(f"  (u) uv venv + uv pip                {mb(disk['uv_beyond_cache'])} beyond cache")
        print(
            f"  (f) CLI over a bare base            "
            f"{mb(disk['cli_over_bare_base_beyond_cache'])} beyond the cache"
        )
        print(
            f"  (b) standalone env                  {mb(disk['standalone_beyond_cache'])} "
            f"beyond the cache (apparent {mb(disk['standalone_apparent'])})"
        )
        print(
            f"  (c) extending env                   {mb(disk['extending_beyond_cache'])} "
            f"beyond the cache (apparent {mb(disk['extending_apparent'])})"
        )
        print(
            f"  (d) extending env + {extra:<15} {mb(disk['extending_plus_extra_beyond_cache'])} "
            f"beyond the cache (apparent {mb(disk['extending_plus_extra_apparent'])})"
        )
        print("\ntargets:")
        print(f"  extended env with one cached package < 0.2 s: (d) {d:.3f} s  {d < 0.2}")
        print(f"  >= 20x faster than venv+pip: (c) {a / c:.0f}x, (d) {a / d:.0f}x  {a / d >= 20}")
        small = disk["extending_beyond_cache"] < 5e6
        print(
            f"  extended env adds < 5 MB beyond the cache: (c) "
            f"{mb(disk['extending_beyond_cache'])}  {small}"
        )
        print(f"  CLI no slower than uv when the base lacks them: (f) {f:.3f} s vs (u) {u:.3f} s"
              f"  {f <= u}")  # fmt: skip
        print(f"  CLI >= 2x faster than uv when the base has them: {u / e:.1f}x  {u / e >= 2}")
        lean = disk["cli_over_bare_base_beyond_cache"] <= disk["uv_beyond_cache"]
        print(f"  no more disk beyond the cache than uv: {lean}")
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2))
        met = d < 0.2 and a / d >= 20 and small and f <= u and u / e >= 2 and lean
    finally:
        if args.keep:
            print(f"\nkept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if not met:
        sys.exit(2)


if __name__ == "__main__":
    main()
