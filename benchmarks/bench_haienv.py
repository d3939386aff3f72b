"""Benchmark: how fast and how small haienv envs are, next to `python -m venv` + pip.

One run, side by side, all from the same local wheel folder (no index):

  (a) python -m venv + pip install PACKAGES              the usual way
  (b) haienv create, standalone, cold uv cache           "from scratch"
  (b') haienv create, standalone, warm uv cache
  (c) haienv create extending a base that has PACKAGES   (warm cache: nothing to install)
  (d) haienv create extending that base + 1 cached package the base lacks
  (e) like (c) through the command line (process start + imports included)

Disk: bytes a child env adds beyond the shared uv cache, counted like `du` (allocated blocks,
each inode once, files hardlinked from the cache not counted), next to its apparent size.

Usage:
  python benchmarks/bench_haienv.py                    # six, idna, numpy (+ packaging)
  python benchmarks/bench_haienv.py --synthetic        # tiny generated wheels, no downloads
  python benchmarks/bench_haienv.py --wheels DIR --packages a,b --extra c
Wheels are fetched once with `pip download` from whatever index pip is configured with.
Exit status 2 when a target is missed: (d) < 0.2 s, (a)/(d) >= 20x, (c) adds < 5 MB.
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

        # (e) through the command line --------------------------------------------------------
        env = dict(os.environ, HAIENV_ROOT=str(root), HAIENV_USER="bench")
        (root / "haienv_config.json").write_text(
            json.dumps({"HaiEnvConfig": {"find_links": [str(wheels)], "no_index": True}})
        )
        e_times = []
        for i in range(min(args.repeat, 3)):
            cmd = [sys.executable, "-m", "haienv", "create", f"cli-{i}", *packages]
            t, proc = timed(
                lambda cmd=cmd: subprocess.run(
                    [*cmd, "--base", "base", "-y"], env=env, capture_output=True
                )
            )
            if proc.returncode != 0:
                sys.exit(f"cli create failed: {proc.stderr.decode()[-500:]}")
            e_times.append(t)
        e = statistics.median(e_times)

        # disk -------------------------------------------------------------------------------
        cache = inodes(Path(config.uv_cache_dir))
        ext0 = Path(haienv.get_env("ext-0", config).path)
        extra0 = Path(haienv.get_env("extra-0", config).path)
        solo0 = Path(haienv.get_env("solo-0", config).path)
        disk = {
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
            ratio_a_over_c=a / c,
            ratio_a_over_d=a / d,
            disk=disk,
            runs={"a": pip_times, "b": b_warm_times, "c": c_times, "d": d_times, "e": e_times},
        )

        pk = ", ".join(packages)
        print(f"haienv benchmark - python {results['python']}, {results['machine']}")
        print(f"packages: {pk}; extra (d): {extra}; {source}")
        print(f"wheels: {', '.join(files)}")
        print(f"median of {args.repeat} runs (a, e: of {min(args.repeat, 3)})\n")
        rows = [
            ("(a) python -m venv + pip install", a, ""),
            ("(b) haienv standalone, cold uv cache", b_cold, "1 run"),
            ("(b') haienv standalone, warm uv cache", b_warm, ""),
            ("(c) haienv extending base (has them)", c, f"{a / c:.0f}x faster than (a)"),
            (f"(d) (c) + {extra} (cached, not in base)", d, f"{a / d:.0f}x faster than (a)"),
            ("(e) (c) via CLI (process start incl.)", e, f"{a / e:.0f}x faster than (a)"),
        ]
        for label, t, note in rows:
            print(f"  {label:<44} {t:8.3f} s  {note}")
        print("\ndisk (du: allocated, hardlinks to the uv cache not counted):")
        print(f"  (a) venv + pip                      {mb(disk['venv_pip'])}")
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
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2))
        met = d < 0.2 and a / d >= 20 and small
    finally:
        if args.keep:
            print(f"\nkept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if not met:
        sys.exit(2)


if __name__ == "__main__":
    main()
