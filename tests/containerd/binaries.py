# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Real containerd binaries, one per family the collection supports, without installing them.

  1.6, 1.7, 2.1   Debian's builds (bookworm, trixie, sid), downloaded by apt-get
                  (tests/sources/debian.py) and unpacked: the containerd the fleet's
                  nodes of those suites run
  2.2, 2.3, 2.4   built from the Go module proxy (tests/sources/gomod.py)

Cache (outside the repo): ${PEERPULL_CACHE:-/var/cache/peerpull}/containerd/<version>/
for Debian's, .../go/containerd-<version>-<recipe>/ for the builds. A warm cache makes no
network request and builds nothing.

Usage: python3 tests/containerd/binaries.py [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sources"))
import debian  # noqa: E402  pylint: disable=wrong-import-position
import gomod  # noqa: E402  pylint: disable=wrong-import-position

# family -> where its binary comes from: a Debian suite, or a gomod program.
DEBIAN_SUITES = {"1.6": "bookworm", "1.7": "trixie", "2.1": "sid"}
GO_BUILDS = {"2.2": "containerd-2.2", "2.3": "containerd-2.3", "2.4": "containerd-2.4"}
FAMILIES = (*DEBIAN_SUITES, *GO_BUILDS)
METADATA = "fetched.json"


class BinaryError(RuntimeError):
    pass


@dataclasses.dataclass(frozen=True)
class ContainerdBinary:
    family: str  # "1.7"
    version: str  # as `containerd --version` reports it: "1.7.24"
    source: str  # "debian trixie 1.7.24~ds1-6+deb13u1" or "go github.com/...@v2.4.2"
    containerd: Path

    @property
    def ctr(self) -> Path:
        return self.containerd.with_name("ctr")

    @property
    def directory(self) -> Path:
        return self.containerd.parent


def all_binaries() -> list[ContainerdBinary]:
    """One binary per family, in FAMILIES order; fetched or built on first use."""
    return [binary(family) for family in FAMILIES]


def binary(family: str) -> ContainerdBinary:
    if family in DEBIAN_SUITES:
        found = _from_debian(DEBIAN_SUITES[family])
    elif family in GO_BUILDS:
        found = _from_go(GO_BUILDS[family])
    else:
        raise BinaryError(f"no containerd family {family!r}; known: {', '.join(FAMILIES)}")
    reported = ".".join(found.version.split(".")[:2])
    if reported != family:
        raise BinaryError(f"{found.source} is containerd {found.version}, not {family}: "
                          f"update {Path(__file__).name} to the family it ships now")
    return dataclasses.replace(found, family=family)


def _from_debian(suite: str) -> ContainerdBinary:
    root = debian.cache_root() / "containerd"
    with debian.locked(root):
        for meta_file in sorted(root.glob(f"*/{METADATA}")):
            meta = json.loads(meta_file.read_text())
            if meta["suite"] == suite and (meta_file.parent / "ctr").is_file():
                return _debian_binary(meta_file.parent, meta)
        deb = debian.download("containerd", suite)
        staging = Path(tempfile.mkdtemp(prefix=f".{suite}-", dir=root))
        try:
            staging.chmod(0o755)  # mkdtemp's 0700 would hide the binaries from other users
            debian.extract(deb, {"usr/bin/containerd": staging / "containerd", "usr/bin/ctr": staging / "ctr"})
            meta = {"version": reported_version(staging / "containerd"), "suite": suite,
                    "deb": deb.name, "deb_version": debian.version_of(deb)}
            (staging / METADATA).write_text(json.dumps(meta, indent=2) + "\n")
            target = root / meta["version"]
            if target.exists():
                shutil.rmtree(target)
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return _debian_binary(target, meta)


def _debian_binary(directory: Path, meta: dict) -> ContainerdBinary:
    return ContainerdBinary(family="", version=meta["version"],
                            source=f"debian {meta['suite']} {meta['deb_version']}",
                            containerd=directory / "containerd")


def _from_go(key: str) -> ContainerdBinary:
    program = gomod.PROGRAMS[key]
    directory = gomod.build(key)
    return ContainerdBinary(family="", version=reported_version(directory / "containerd"),
                            source=f"go {program.module}@{program.version}",
                            containerd=directory / "containerd")


def reported_version(containerd: Path) -> str:
    """Upstream version from `containerd --version`.

    Debian prints "containerd github.com/containerd/containerd 1.6.20~ds1 ...", the
    module builds "containerd github.com/containerd/containerd/v2 v2.4.2".
    """
    output = subprocess.run([str(containerd), "--version"], capture_output=True, text=True,
                            timeout=60, check=True).stdout
    match = re.search(r"\sv?(\d+\.\d+\.\d+)", output)
    if not match:
        raise BinaryError(f"cannot read a version from {containerd} --version: {output!r}")
    return match.group(1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help='print {"<version>": "<path>", ...}')
    args = parser.parse_args()
    try:
        binaries = all_binaries()
    except (BinaryError, debian.PackageError, gomod.BuildError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({b.version: str(b.containerd) for b in binaries}, indent=2))
    else:
        for b in binaries:
            print(f"{b.family:<4} {b.version:<8} {b.containerd}  ({b.source})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
