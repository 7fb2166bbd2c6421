# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Go programs for the tests, built from the Go module proxy and cached by recipe.

A build is the module at one exact version, required by a throw-away main module and
compiled with CGO_ENABLED=0 (`go install module@version` would also work for containerd,
but it asks the proxy for the module's version list, which the proxy refuses for Spegel).
The result goes to ${PEERPULL_CACHE:-/var/cache/peerpull}/go/<name>-<version>-<recipe>/,
where <recipe> hashes everything the build depends on (module, version, packages, flags
and the Go version), so a warm cache builds nothing and a changed recipe builds again.
The Go module and build caches are Go's own (GOMODCACHE, GOCACHE).

  python3 tests/sources/gomod.py containerd-2.4 spegel-0.7.3 ...   build, print the paths
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from debian import cache_root, locked  # noqa: E402  pylint: disable=wrong-import-position

BUILD_TIMEOUT = 1800  # seconds; a cold containerd build on two cores takes a few minutes
METADATA = "built.json"


class BuildError(RuntimeError):
    """A build failed; the message holds go's output."""


@dataclasses.dataclass(frozen=True)
class GoProgram:
    """What to build: binaries (name -> import path) of one module version."""

    name: str
    module: str
    version: str
    binaries: tuple[tuple[str, str], ...]
    ldflags: str = "-s -w"
    # A small main package of ours (a directory under tests/sources/go) built against the
    # module, for a judge that calls a project's own parser; its binaries' import path is ".".
    main: str = ""

    def recipe(self, go_version: str) -> str:
        fields = dataclasses.asdict(self) | {"go": go_version, "cgo": "0", "trimpath": True}
        if self.main:
            fields["main_sources"] = {path.name: path.read_text() for path in sorted(_main_dir(self).glob("*.go"))}
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]


def _main_dir(program: GoProgram) -> Path:
    return Path(__file__).resolve().parent / "go" / program.main


def _containerd(version: str) -> GoProgram:
    module = "github.com/containerd/containerd/v2"
    # The version package is what `containerd --version` prints; the Makefile sets it too.
    return GoProgram(
        name=f"containerd-{version}",
        module=module,
        version=f"v{version}",
        binaries=(("containerd", f"{module}/cmd/containerd"), ("ctr", f"{module}/cmd/ctr")),
        ldflags=f"-s -w -X {module}/version.Version=v{version}",
    )


# containerd versions Debian does not ship (bookworm 1.6, trixie 1.7, sid 2.1 come from apt),
# Spegel itself, Packer for the image-bake test, and EKS's nodeadm. The proxy serves Spegel
# v0.7.3; it refuses v0.7.4 and main commits. Packer 1.9.4 is the last MPL-2.0 release (1.10
# on are BUSL); it still bundles the ansible and ansible-local provisioners (packer-plugin-ansible
# v1.0.3), so no plugin installation is needed. k3s itself is not served (its release tags
# carry +k3sN: v1.34.2+k3s1 answers 403); its agent loads registries.yaml with wharfie's
# registries package (pkg/agent/containerd), which is: k3s-registries judges with it.
PROGRAMS = {
    "containerd-2.2": _containerd("2.2.9"),
    "containerd-2.3": _containerd("2.3.7"),
    "containerd-2.4": _containerd("2.4.2"),
    "spegel-0.7.3": GoProgram(
        name="spegel-0.7.3",
        module="github.com/spegel-org/spegel",
        version="v0.7.3",
        binaries=(("spegel", "github.com/spegel-org/spegel"),),
    ),
    "packer-1.9.4": GoProgram(
        name="packer-1.9.4",
        module="github.com/hashicorp/packer",
        version="v1.9.4",
        binaries=(("packer", "github.com/hashicorp/packer"),),
    ),
    "k3s-registries": GoProgram(
        name="k3s-registries",
        module="github.com/rancher/wharfie",
        version="v0.7.1",
        binaries=(("k3s-registries", "."),),
        main="k3s-registries",
    ),
    # The newest nodeadm the proxy serves (a 2024-02-29 commit; newer commits get 403). It
    # predates /etc/eks/nodeadm.d and the version 3 template, but its `config check` decodes
    # a NodeConfig as every nodeadm does.
    "nodeadm-20240229": GoProgram(
        name="nodeadm-20240229",
        module="github.com/awslabs/amazon-eks-ami/nodeadm",
        version="v0.0.0-20240229193347-cfab22a10647",
        binaries=(("nodeadm", "github.com/awslabs/amazon-eks-ami/nodeadm/cmd/nodeadm"),),
    ),
}


def go_version() -> str:
    try:
        return _go(["env", "GOVERSION"], cwd=Path.cwd(), timeout=60).strip()
    except FileNotFoundError:
        raise BuildError("go is not installed (the tests build containerd 2.2+ and Spegel with it)") from None


def build(key: str) -> Path:
    """The directory holding the program's binaries, built on first use."""
    program = PROGRAMS[key]
    root = cache_root() / "go"
    target = root / f"{program.name}-{program.recipe(go_version())}"
    with locked(root):
        if (target / METADATA).is_file():
            return target
        started = time.monotonic()
        print(f"gomod: building {program.module}@{program.version} (once; cached in {target})",
              file=sys.stderr, flush=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{program.name}-", dir=root))
        try:
            _build_into(program, staging)
            (staging / METADATA).write_text(json.dumps(
                dataclasses.asdict(program) | {"go": go_version(),
                                               "seconds": round(time.monotonic() - started, 1)},
                indent=2) + "\n")
            staging.chmod(0o755)
            for stale in root.glob(f"{program.name}-*"):
                shutil.rmtree(stale)
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _build_into(program: GoProgram, out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="gomod-") as workdir:
        main = Path(workdir)
        (main / "go.mod").write_text("module peerpull.test/build\n")
        if program.main:
            for source in _main_dir(program).glob("*.go"):
                shutil.copy(source, main / source.name)
        _go(["get", f"{program.module}@{program.version}"], cwd=main)
        for name, package in program.binaries:
            _go(["build", "-trimpath", f"-ldflags={program.ldflags}", "-o", str(out / name), package], cwd=main)


def _go(args: list[str], cwd: Path, timeout: int = BUILD_TIMEOUT) -> str:
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"}
    try:
        result = subprocess.run(["go", *args], cwd=cwd, env=env, capture_output=True, text=True,
                                timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise BuildError(f"go {' '.join(args)} ran past {timeout}s") from None
    if result.returncode != 0:
        raise BuildError(f"go {' '.join(args)} failed ({result.returncode}):\n{result.stderr.strip()}")
    return result.stdout


def main() -> int:
    wanted = sys.argv[1:] or list(PROGRAMS)
    unknown = [key for key in wanted if key not in PROGRAMS]
    if unknown:
        print(f"error: unknown {unknown}; known: {', '.join(PROGRAMS)}", file=sys.stderr)
        return 2
    try:
        for key in wanted:
            print(build(key))
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
