# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Fetch real containerd binaries from Debian's archive, without installing them.

One binary per Debian suite (bookworm -> 1.6, trixie -> 1.7, sid -> 2.x), so the
tests can run each config fixture through `containerd config dump` of every family.

Trust chain, all checked before anything is kept:
  InRelease  -- gpgv against the Debian archive keyring (when gpgv and the keyring
                are installed; otherwise a warning and only the checksum chain below)
  Packages.xz -- SHA256 listed in the (verified) InRelease
  .deb        -- SHA256 listed in the Packages stanza
Valid-Until of InRelease is not checked: a stale mirror only means an older binary.

Cache layout (outside the repo):
  ${PEERPULL_CACHE:-/var/cache/peerpull}/containerd/<reported version>/
      containerd, ctr, fetched.json
A suite whose binary is already cached is not looked up again (no network at all on
a warm cache); --refresh re-reads the suites, e.g. after sid moved on.

Usage: python3 tests/containerd/fetch_containerd.py [--json] [--refresh]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import lzma
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

MIRROR = "http://deb.debian.org/debian"
SUITES = ("bookworm", "trixie", "sid")
PACKAGE = "containerd"
KEPT_BINARIES = ("containerd", "ctr")
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
HTTP_TIMEOUT = 120
METADATA = "fetched.json"


class FetchError(RuntimeError):
    pass


@dataclasses.dataclass(frozen=True)
class FetchedBinary:
    version: str  # as `containerd --version` reports it, e.g. "1.7.24"
    suite: str
    deb_version: str  # Debian package version, e.g. "1.7.24~ds1-6+deb13u1"
    containerd: Path
    ctr: Path

    @property
    def family(self) -> str:
        """major.minor, the granularity the tests key on (sid's patch level moves)."""
        return ".".join(self.version.split(".")[:2])


def cache_root() -> Path:
    return Path(os.environ.get("PEERPULL_CACHE", "/var/cache/peerpull")) / "containerd"


def debian_arch() -> str:
    return _run(["dpkg", "--print-architecture"]).strip()


def fetch_all(refresh: bool = False) -> list[FetchedBinary]:
    """Return one binary per suite, downloading only what the cache lacks."""
    root = cache_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except PermissionError as exc:
        raise FetchError(f"cannot create {root}; set PEERPULL_CACHE to a writable directory") from exc
    # Parallel test sessions share the cache: one fetcher at a time.
    with _locked(root / ".lock"):
        cached = {} if refresh else _cached_by_suite(root)
        return [cached.get(suite) or _fetch_suite(root, suite) for suite in SUITES]


def _cached_by_suite(root: Path) -> dict[str, FetchedBinary]:
    found = {}
    for meta_file in root.glob(f"*/{METADATA}"):
        meta = json.loads(meta_file.read_text())
        binary = _binary_from_dir(meta_file.parent, meta)
        if binary.containerd.is_file() and binary.ctr.is_file():
            found[binary.suite] = binary
    return found


def _binary_from_dir(directory: Path, meta: dict) -> FetchedBinary:
    return FetchedBinary(
        version=meta["version"],
        suite=meta["suite"],
        deb_version=meta["deb_version"],
        containerd=directory / "containerd",
        ctr=directory / "ctr",
    )


def _fetch_suite(root: Path, suite: str) -> FetchedBinary:
    arch = debian_arch()
    release = _verified_release(suite)
    index_name = f"main/binary-{arch}/Packages.xz"
    packages_xz = _download(f"{MIRROR}/dists/{suite}/{index_name}")
    _check_sha256(packages_xz, _release_sha256(release, index_name), f"{suite} {index_name}")
    stanza = _find_stanza(lzma.decompress(packages_xz).decode(), PACKAGE, suite)

    deb = _download(f"{MIRROR}/{stanza['Filename']}")
    _check_sha256(deb, stanza["SHA256"], stanza["Filename"])

    staging = Path(tempfile.mkdtemp(prefix=f".{suite}-", dir=root))
    try:
        staging.chmod(0o755)  # mkdtemp's 0700 would hide the binaries from other users
        _extract_binaries(deb, staging)
        meta = {
            "version": reported_version(staging / "containerd"),
            "suite": suite,
            "deb_version": stanza["Version"],
            "deb_sha256": stanza["SHA256"],
            "deb_url": f"{MIRROR}/{stanza['Filename']}",
        }
        (staging / METADATA).write_text(json.dumps(meta, indent=2) + "\n")
        target = root / meta["version"]
        if target.exists():  # stale entry for the same version (e.g. --refresh)
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return _binary_from_dir(target, meta)


def _verified_release(suite: str) -> str:
    """InRelease body; signature-checked when gpgv and the keyring are available."""
    signed = _download(f"{MIRROR}/dists/{suite}/InRelease")
    if shutil.which("gpgv") and KEYRING.is_file():
        result = subprocess.run(
            ["gpgv", "--keyring", str(KEYRING), "--output", "-", "-"],
            input=signed,
            capture_output=True,
            check=False,  # the exit code is reported below
        )
        if result.returncode != 0:
            raise FetchError(f"{suite} InRelease signature check failed:\n{result.stderr.decode()}")
        return result.stdout.decode()
    print(f"warning: gpgv or {KEYRING} missing; {suite} InRelease signature NOT checked", file=sys.stderr)
    text = signed.decode()
    body = text.split("\n\n", 1)[1]  # after the "Hash:" armor header
    return body.split("\n-----BEGIN PGP SIGNATURE-----", 1)[0]


def _release_sha256(release: str, name: str) -> str:
    in_sha256 = False
    for line in release.splitlines():
        if not line.startswith(" "):
            in_sha256 = line.rstrip() == "SHA256:"
            continue
        if in_sha256:
            digest, _size, path = line.split()
            if path == name:
                return digest
    raise FetchError(f"{name} not listed in Release SHA256")


def _find_stanza(packages: str, package: str, suite: str) -> dict[str, str]:
    matches = []
    for block in packages.split("\n\n"):
        if not block.startswith(f"Package: {package}\n"):
            continue
        fields = {}
        for line in block.splitlines():
            if not line.startswith(" ") and ": " in line:
                key, value = line.split(": ", 1)
                fields[key] = value
        matches.append(fields)
    if len(matches) != 1:
        raise FetchError(f"expected one '{package}' in {suite} Packages, found {len(matches)}")
    return matches[0]


def _extract_binaries(deb: bytes, destination: Path) -> None:
    """Unpack only usr/bin/{containerd,ctr} from the .deb's data archive."""
    wanted = {f"./usr/bin/{name}": name for name in KEPT_BINARIES}
    with tempfile.NamedTemporaryFile(suffix=".deb") as deb_file:
        deb_file.write(deb)
        deb_file.flush()
        with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", deb_file.name], stdout=subprocess.PIPE) as proc:
            with tarfile.open(fileobj=proc.stdout, mode="r|") as archive:
                for member in archive:
                    if member.isfile() and member.name in wanted:
                        name = wanted.pop(member.name)
                        with archive.extractfile(member) as src, open(destination / name, "wb") as dst:
                            shutil.copyfileobj(src, dst)
                        (destination / name).chmod(0o755)
            proc.stdout.read()  # drain so dpkg-deb exits cleanly
        if proc.returncode != 0:
            raise FetchError(f"dpkg-deb failed with exit code {proc.returncode}")
    if wanted:
        raise FetchError(f"not in the .deb: {sorted(wanted)}")


def reported_version(containerd: Path) -> str:
    """Upstream version from `containerd --version`.

    Debian builds print e.g. "containerd github.com/containerd/containerd 1.6.20~ds1 ..."
    """
    output = _run([str(containerd), "--version"])
    match = re.search(r"\sv?(\d+\.\d+\.\d+)", output)
    if not match:
        raise FetchError(f"cannot read a version from {containerd} --version: {output!r}")
    return match.group(1)


def _download(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT) as response:
            return response.read()
    except OSError as exc:
        raise FetchError(f"download failed: {url}: {exc}") from exc


def _check_sha256(data: bytes, expected: str, what: str) -> None:
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise FetchError(f"SHA256 mismatch for {what}: got {actual}, expected {expected}")


def _run(argv: list[str]) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=60).stdout


@contextlib.contextmanager
def _locked(lock_path: Path):
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help='print {"<version>": "<path>", ...}')
    parser.add_argument("--refresh", action="store_true", help="re-read the suites even if cached")
    args = parser.parse_args()
    try:
        binaries = fetch_all(refresh=args.refresh)
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({b.version: str(b.containerd) for b in binaries}, indent=2))
    else:
        for b in binaries:
            print(f"{b.version:<8} {b.suite:<9} {b.deb_version:<24} {b.containerd}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
