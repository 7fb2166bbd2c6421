# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The cached node rootfs per flavour (debootstrap, prepared offline) and the Go
programs bound into the nodes (Spegel, containerd builds)."""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import inspect
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .host import FleetError, log, mount_table, remove_tree, run, tail, write_atomically

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "sources"))
import gomod  # noqa: E402  pylint: disable=wrong-import-position

CACHE_ROOT = Path(os.environ.get("PEERPULL_CACHE", "/var/cache/peerpull"))

DEBIAN_MIRROR = "http://deb.debian.org/debian"
FLAVOURS = ("bookworm", "trixie", "sid")
PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "openssh-server", "python3",
    "containerd", "runc", "iproute2", "ca-certificates",
)
ENABLED_UNITS = ("ssh.service", "containerd.service", "spegel.service")
# Units that slow the boot down, fail in a container, or would fight the addresses
# this tool sets on host0 from outside. Masking a unit a suite lacks is harmless.
MASKED_UNITS = (
    "systemd-networkd.service", "systemd-networkd.socket",
    "systemd-networkd-wait-online.service", "systemd-timesyncd.service",
    "systemd-firstboot.service", "getty.target", "console-getty.service",
    "apt-daily.timer", "apt-daily-upgrade.timer", "dpkg-db-backup.timer",
    "fstrim.timer", "e2scrub_all.timer", "man-db.timer",
)

SPEGEL_PORT = 30020
SPEGEL_ROUTER_PORT = 5001
SPEGEL_METRICS_PORT = 9090
SPEGEL_PROGRAM = "spegel-0.7.3"  # tests/sources/gomod.py; the newest release the proxy serves
SPEGEL_BINARY = "/usr/local/bin/spegel"  # bound read-only into every node at boot
# Every node's /etc/hosts lists each fleet address under this name: Spegel's DNS
# bootstrap reads it (a pure-Go resolver reads /etc/hosts), so the nodes find each
# other without Kubernetes, a DNS server or known peer IDs.
SPEGEL_PEERS_NAME = "spegel-peers"
# As the chart runs it (hostPort 30020), with a resolve timeout that a busy two-core
# host can meet (the default 20ms is for real clusters) and access logs (DEBUG), which
# name the peer a request came from. Spegel exits when containerd restarts: systemd
# starts it again, as Kubernetes restarts the chart's pod.
SPEGEL_UNIT = f"""\
# Written by peerpull tests/fleet/fleet.py: Spegel without Kubernetes.
[Unit]
Description=Spegel registry mirror
After=containerd.service
Wants=containerd.service

[Service]
ExecStart={SPEGEL_BINARY} registry --log-level=DEBUG \\
    --registry-addr=:{SPEGEL_PORT} --router-addr=:{SPEGEL_ROUTER_PORT} --metrics-addr=:{SPEGEL_METRICS_PORT} \\
    --containerd-sock=/run/containerd/containerd.sock --containerd-namespace=k8s.io \\
    --containerd-content-path=/var/lib/containerd/io.containerd.content.v1.content \\
    --data-dir=/var/lib/spegel --mirror-resolve-timeout=1s \\
    --bootstrap-kind=dns --dns-bootstrap-domain={SPEGEL_PEERS_NAME}
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
"""
# containerd builds a node can run instead of its suite's own (sid's 2.1): tests/sources/gomod.py.
CONTAINERD_BUILDS = {"2.2": "containerd-2.2", "2.3": "containerd-2.3", "2.4": "containerd-2.4"}
SSHD_CONFIG = """\
# Written by peerpull tests/fleet/fleet.py: root by key only.
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
"""


def prepare_rootfs(root: Path) -> dict:
    """Make a freshly bootstrapped rootfs into a node image, offline; return its facts."""
    # No resolver: nodes reach only each other by IP, so a stray lookup fails locally.
    (root / "etc/resolv.conf").unlink(missing_ok=True)
    (root / "etc/resolv.conf").write_text("# peerpull test node: no DNS, by design\n")
    # Empty machine-id: each node writes its own into its overlay before boot.
    (root / "etc/machine-id").write_text("")
    dbus_id = root / "var/lib/dbus/machine-id"
    if dbus_id.exists() and not dbus_id.is_symlink():
        dbus_id.unlink()
    (root / "etc/hostname").write_text("peerpull-node\n")
    (root / "etc/ssh/sshd_config.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/ssh/sshd_config.d/peerpull.conf").write_text(SSHD_CONFIG)
    (root / "root/.ssh").mkdir(mode=0o700, exist_ok=True)
    (root / "etc/systemd/system/spegel.service").write_text(SPEGEL_UNIT)
    run(["chroot", str(root), "systemctl", "enable", *ENABLED_UNITS])
    run(["chroot", str(root), "systemctl", "mask", *MASKED_UNITS])
    # Stamp /etc and /var as up to date so ldconfig.service and friends skip at boot
    # (bookworm's systemd ships neither the stamper nor those units).
    if (root / "usr/lib/systemd/systemd-update-done").exists():
        run(["chroot", str(root), "/usr/lib/systemd/systemd-update-done"])
    for leftovers in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for item in (root / leftovers).glob("*"):
            if item.is_file():
                item.unlink()
    versions = {}
    for package in ("containerd", "runc", "systemd", "openssh-server"):
        versions[package] = run(
            ["chroot", str(root), "dpkg-query", "-W", "-f=${Version}", package]).stdout
    upstream = re.match(r"(?:\d+:)?(\d+(?:\.\d+)*)", versions["containerd"])
    return {"containerd_version": upstream.group(1), "package_versions": versions}


def recipe_key(flavour: str) -> str:
    """Hash of everything that shapes a rootfs: changing any of it forces a rebuild."""
    recipe = {
        "suite": flavour, "mirror": DEBIAN_MIRROR, "variant": "minbase",
        "packages": PACKAGES, "enabled": ENABLED_UNITS, "masked": MASKED_UNITS,
        "spegel": SPEGEL_UNIT, "sshd": SSHD_CONFIG,
        "prepare": inspect.getsource(prepare_rootfs),
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


@dataclasses.dataclass
class CachedRootfs:
    flavour: str
    key: str

    @property
    def entry(self) -> Path:
        return CACHE_ROOT / "rootfs" / f"{self.flavour}-{self.key}"

    @property
    def rootfs(self) -> Path:
        return self.entry / "rootfs"

    @property
    def meta_path(self) -> Path:
        return self.entry / "meta.json"

    def meta(self) -> dict:
        return json.loads(self.meta_path.read_text())

    def exists(self) -> bool:
        return self.meta_path.is_file() and self.rootfs.is_dir()


def cache_lock(flavour: str):
    """An exclusive lock file per flavour; debootstrap inherits it so that a builder
    whose parent was killed still holds it until it exits."""
    lock_dir = CACHE_ROOT / "rootfs"
    lock_dir.mkdir(parents=True, exist_ok=True)
    handle = open(lock_dir / f".{flavour}.lock", "w")
    fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def debootstrap(flavour: str, target: Path, debs: Path, log_path: Path, lock) -> None:
    """debootstrap in its two stages, so that the second (dpkg unpacking and configuring
    every package) runs with dpkg's unsafe-io: no fsync per file, a throw-away rootfs."""
    unsafe_io = target / "etc/dpkg/dpkg.cfg.d/peerpull-unsafe-io"
    stages = [
        ["debootstrap", "--foreign", "--variant=minbase", f"--include={','.join(PACKAGES)}",
         f"--cache-dir={debs}", flavour, str(target), DEBIAN_MIRROR],
        ["chroot", str(target), "/debootstrap/debootstrap", "--second-stage"],
    ]
    with open(log_path, "w") as build_log:
        for number, command in enumerate(stages):
            if number == 1:
                unsafe_io.write_text("force-unsafe-io\n")
            result = subprocess.run(
                command, stdin=subprocess.DEVNULL, stdout=build_log, stderr=subprocess.STDOUT,
                pass_fds=(lock.fileno(),), check=False)
            if result.returncode != 0:
                raise FleetError(
                    f"debootstrap {flavour} failed; last lines of {log_path}:\n{tail(log_path)}")
    unsafe_io.unlink()


def build_rootfs(flavour: str, force: bool = False) -> CachedRootfs:
    """Build (or find) the cached rootfs for `flavour`; safe to run concurrently."""
    cached = CachedRootfs(flavour, recipe_key(flavour))
    with cache_lock(flavour) as lock:
        if cached.exists() and not force:
            return cached
        for stale in cached.entry.parent.glob(f".tmp-{flavour}-*"):
            log(f"removing interrupted build {stale}")
            remove_tree(stale)
        tmp = cached.entry.parent / f".tmp-{flavour}-{cached.key}"
        log_path = CACHE_ROOT / "logs" / f"build-{flavour}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        debs = CACHE_ROOT / "debs" / flavour
        debs.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        log(f"building {flavour} rootfs (recipe {cached.key}); log: {log_path}")
        try:
            tmp.mkdir()
            debootstrap(flavour, tmp / "rootfs", debs, log_path, lock)
            meta = prepare_rootfs(tmp / "rootfs")
            meta.update(flavour=flavour, recipe=cached.key, packages=PACKAGES,
                        build_seconds=round(time.monotonic() - started, 1),
                        built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            write_atomically(tmp / "meta.json", json.dumps(meta, indent=2) + "\n")
            if cached.entry.exists():
                if rootfs_in_use(cached.entry):
                    raise FleetError(f"{cached.entry} is the root of running nodes; take "
                                     "their fleets down before rebuilding it with --force")
                remove_tree(cached.entry)
            os.rename(tmp, cached.entry)
        except BaseException:
            remove_tree(tmp)
            raise
        log(f"built {flavour} in {meta['build_seconds']}s: containerd {meta['containerd_version']}")
        prune_rootfs(cached)
    return cached


def rootfs_in_use(entry: Path) -> bool:
    """Whether a mounted overlay has this cache entry's rootfs as its lowerdir."""
    return any(re.search(rf"lowerdir=([^,]*:)?{re.escape(str(entry))}/rootfs,", mount.options)
               for mount in mount_table())


def prune_rootfs(keep: CachedRootfs) -> None:
    """Delete this flavour's caches of older recipes unless a running node uses them."""
    for old in keep.entry.parent.glob(f"{keep.flavour}-*"):
        if old != keep.entry and not rootfs_in_use(old):
            log(f"removing outdated cache {old}")
            remove_tree(old)


def build_flavours(flavours: list[str], force: bool = False) -> dict[str, CachedRootfs]:
    """Build several flavours in parallel (debootstrap waits on the network a lot)."""
    flavours = list(dict.fromkeys(flavours))
    with ThreadPoolExecutor(max_workers=len(flavours)) as pool:
        futures = {f: pool.submit(build_rootfs, f, force) for f in flavours}
        errors = []
        for flavour, future in futures.items():
            try:
                future.result()
            except Exception as error:  # report every flavour's failure, not the first
                errors.append(f"{flavour}: {error}")
    if errors:
        raise FleetError("\n".join(errors))
    return {flavour: future.result() for flavour, future in futures.items()}


def build_programs(keys: list[str]) -> dict[str, Path]:
    """Spegel and containerd builds the nodes bind in (tests/sources/gomod.py)."""
    try:
        return {key: gomod.build(key) for key in dict.fromkeys(keys)}
    except gomod.BuildError as error:
        raise FleetError(str(error)) from None


def containerd_build_version(build: Path) -> str:
    """The containerd version of a build from build_programs, e.g. 2.4.2."""
    return json.loads((build / gomod.METADATA).read_text())["version"].lstrip("v")
