# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Debian packages for the tests, through apt and nothing else.

The tests need files from packages of Debian suites this host does not run (containerd
from bookworm, trixie and sid; the CRI proto from trixie). apt-get fetches them with a
private configuration (its own sources list, package lists and archive cache under
${PEERPULL_CACHE:-/var/cache/peerpull}/apt/), so the host's apt setup is neither read
for sources nor changed. apt checks the suites' signatures against Debian's archive
keyring and every index and .deb by hash, as it always does.

  python3 tests/sources/debian.py PACKAGE/SUITE...   download, print the .deb paths
  python3 tests/sources/debian.py --installable SUITE DPKG_STATUS TARGET PACKAGE...
        copy into TARGET the .debs installing PACKAGEs needs on a system with that dpkg
        status file; print their paths
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

MIRROR = "http://deb.debian.org/debian"
SUITES = ("bookworm", "trixie", "sid")
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
APT_TIMEOUT = 900  # seconds for one apt-get call (an update reads three suites)


class PackageError(RuntimeError):
    """A package could not be had; the message says which and why."""


def cache_root() -> Path:
    return Path(os.environ.get("PEERPULL_CACHE", "/var/cache/peerpull"))


def _apt_dir() -> Path:
    return cache_root() / "apt"


def _apt_options(apt_dir: Path) -> list[str]:
    """apt-get options that confine it to apt_dir: no host sources, lists or archives."""
    options = {
        "Dir::Etc::SourceList": apt_dir / "sources.list",
        "Dir::Etc::SourceParts": apt_dir / "sources.list.d",
        "Dir::Etc::Preferences": apt_dir / "preferences",
        "Dir::Etc::PreferencesParts": apt_dir / "preferences.d",
        "Dir::State::Lists": apt_dir / "lists",
        "Dir::Cache": apt_dir / "cache",
        "APT::Get::List-Cleanup": "false",
    }
    return [arg for key, value in options.items() for arg in ("-o", f"{key}={value}")]


def _prepare(apt_dir: Path) -> None:
    for sub in ("sources.list.d", "preferences.d", "lists/partial", "cache/archives/partial"):
        (apt_dir / sub).mkdir(parents=True, exist_ok=True)
    if not KEYRING.is_file():
        raise PackageError(f"{KEYRING} is missing; install debian-archive-keyring (scripts/setup does)")
    lines = [f"deb [signed-by={KEYRING}] {MIRROR} {suite} main" for suite in SUITES]
    (apt_dir / "sources.list").write_text("\n".join(lines) + "\n")
    (apt_dir / "preferences").write_text("")


def _apt_get(apt_dir: Path, args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            ["apt-get", "-q", *_apt_options(apt_dir), *args],
            cwd=cwd, capture_output=True, text=True, timeout=APT_TIMEOUT, check=False,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"},
        )
    except FileNotFoundError:
        raise PackageError("apt-get is not installed; these tests need a Debian host") from None


def _update(apt_dir: Path) -> None:
    result = _apt_get(apt_dir, ["update"])
    # apt-get update exits 0 on some fetch failures; "W:"/"E:" lines say so.
    failed = [line for line in result.stderr.splitlines() if line.startswith(("E:", "W: Failed", "Err:"))]
    if result.returncode != 0 or failed:
        raise PackageError(f"apt-get update of {', '.join(SUITES)} failed:\n{result.stderr.strip()}")
    (apt_dir / "lists" / ".updated").touch()


def download(package: str, suite: str) -> Path:
    """The .deb of `package` in `suite`, downloaded by apt-get into the cache."""
    if suite not in SUITES:
        raise PackageError(f"suite {suite!r} is not one of {SUITES}")
    apt_dir = _apt_dir()
    with locked(apt_dir):
        _prepare(apt_dir)
        debs = apt_dir / "debs" / suite
        debs.mkdir(parents=True, exist_ok=True)
        if not (apt_dir / "lists" / ".updated").exists():
            _update(apt_dir)
        with tempfile.TemporaryDirectory(dir=debs) as staging:
            result = _apt_get(apt_dir, ["download", f"{package}/{suite}"], cwd=Path(staging))
            if result.returncode != 0:  # lists older than the archive: read them again once
                _update(apt_dir)
                result = _apt_get(apt_dir, ["download", f"{package}/{suite}"], cwd=Path(staging))
            fetched = sorted(Path(staging).glob("*.deb"))
            if result.returncode != 0 or len(fetched) != 1:
                raise PackageError(f"apt-get download {package}/{suite} failed:\n{result.stderr.strip()}")
            target = debs / fetched[0].name
            os.replace(fetched[0], target)
    return target


def download_installable(packages: list[str], suite: str, dpkg_status: Path, target: Path) -> list[Path]:
    """The .debs that `apt-get install packages` would fetch from `suite` on a system whose
    dpkg status file is `dpkg_status` (the packages and every dependency it lacks), copied
    into target. For a machine that reaches no archive, as `apt-get install ./*.deb` there."""
    if suite not in SUITES:
        raise PackageError(f"suite {suite!r} is not one of {SUITES}")
    apt_dir = _apt_dir()
    with locked(apt_dir):
        _prepare(apt_dir)
        if not (apt_dir / "lists" / ".updated").exists():
            _update(apt_dir)
        args = ["install", "--no-install-recommends", "-y", "-t", suite,
                "-o", f"Dir::State::status={dpkg_status}", *packages]
        planned = _apt_get(apt_dir, ["-s", *args])
        if planned.returncode != 0:  # lists older than the archive: read them again once
            _update(apt_dir)
            planned = _apt_get(apt_dir, ["-s", *args])
        fetched = _apt_get(apt_dir, ["--download-only", *args]) if planned.returncode == 0 else planned
        if fetched.returncode != 0:
            raise PackageError(f"apt-get install {' '.join(packages)} from {suite} for {dpkg_status} "
                               f"failed:\n{fetched.stderr.strip()}")
        # "Inst NAME [OLD] (VERSION SUITE [ARCH])": every package the install adds or upgrades.
        wanted = re.findall(r"^Inst (\S+) (?:\[\S+\] )?\((\S+) ", planned.stdout, re.MULTILINE)
        target.mkdir(parents=True, exist_ok=True)
        copied = []
        for name, version in wanted:
            found = sorted((apt_dir / "cache" / "archives").glob(f"{name}_*.deb"))
            found = [deb for deb in found if version_of(deb) == version]
            if len(found) != 1:
                raise PackageError(f"apt-get fetched {name} {version} but the archive cache holds {found}")
            copied.append(Path(shutil.copy2(found[0], target / found[0].name)))
    return copied


def version_of(deb: Path) -> str:
    """The Debian version of a .deb file."""
    return _run(["dpkg-deb", "--field", str(deb), "Version"]).strip()


def extract(deb: Path, members: dict[str, Path]) -> None:
    """Copy files of a .deb's data to paths: {"usr/bin/ctr": Path(...), ...}."""
    with tempfile.TemporaryDirectory(prefix="deb-") as unpacked:
        _run(["dpkg-deb", "--extract", str(deb), unpacked])
        for member, target in members.items():
            source = Path(unpacked, member)
            if not source.is_file():
                raise PackageError(f"{deb.name} has no {member}")
            shutil.copy2(source, target)


@contextlib.contextmanager
def locked(directory: Path):
    """One writer of a cache directory at a time (parallel test sessions share it)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _run(argv: list[str]) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    if result.returncode != 0:
        raise PackageError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


def main() -> int:
    args = sys.argv[1:]
    installable = args[:1] == ["--installable"]
    if (len(args) < 5) if installable else (not args or any("/" not in arg for arg in args)):
        print(__doc__.rsplit("\n\n", maxsplit=1)[-1].rstrip(), file=sys.stderr)
        return 2
    try:
        if installable:
            suite, status, target, *packages = args[1:]
            for deb in download_installable(packages, suite, Path(status), Path(target)):
                print(deb)
        else:
            for arg in args:
                print(download(*arg.split("/", 1)))
    except PackageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
