# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Throw-away systemd nodes for the peerpull.spegel tests, without a Docker engine.

A node is a cached Debian rootfs (debootstrap) under a per-node overlayfs, booted by
systemd-nspawn on a per-fleet Linux bridge and reachable from this host over SSH. Each
node runs sshd, containerd (Debian's, or a build of 2.2+ bound over it) and real Spegel
(`spegel registry` on :30020, router on :5001, bootstrapped among the fleet's nodes). A
seed node outside the inventory holds the only copy of a small test image this tool
builds and imports there: no registry exists anywhere, so a pull elsewhere can only be
served by Spegel, peer to peer. See README.md.

Runs as root, Python 3.11 standard library only: python3 tests/fleet/fleet.py --help
"""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import gzip
import hashlib
import http.client
import inspect
import io
import json
import os
import re
import shutil
import shlex
import signal
import subprocess
import sys
import tarfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sources"))
import gomod  # noqa: E402  pylint: disable=wrong-import-position

CACHE_ROOT = Path(os.environ.get("PEERPULL_CACHE", "/var/cache/peerpull"))
STATE_ROOT = Path(os.environ.get("PEERPULL_STATE", "/run/peerpull-fleet"))

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

TEST_IMAGE_REPOSITORY = "library/peerpull-test"
TEST_IMAGE_TAG = "1.0"
TEST_IMAGE_REF = f"docker.io/{TEST_IMAGE_REPOSITORY}:{TEST_IMAGE_TAG}"
TEST_IMAGE_FILE = ("hello.txt", b"hello from peerpull-test 1.0\n")
DOCKER_MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"

# 198.18.0.0/15 is the benchmarking range and fd00:5e6e::/32 a ULA slice: neither can
# collide with real networks, and the host's own eth0 owns fd00::/64.
IPV4_PREFIX = "198.18"
IPV6_PREFIX = "fd00:5e6e"
MAX_FLEET_INDEX = 250
NODE_HOST_OFFSET = 10
NODE_OPTIONS = ("no-default-route", "ipv6", "no-ipv6", "ipv6-only",
                *(f"containerd={family}" for family in CONTAINERD_BUILDS), "image=DIR",
                "kubelet-node-ip")
IMAGE_META = "image.json"
SEED_FLAVOUR = "sid"  # containerd 2.1+: Spegel learns of content as it arrives
CGROUP_SUBTREE = "peerpull-fleet"

# Nodes are recreated with new host keys all the time: never record or check them.
SSH_COMMON_OPTIONS = ("StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null", "LogLevel=ERROR")
SSH_TOOL_OPTIONS = SSH_COMMON_OPTIONS + ("BatchMode=yes", "ConnectTimeout=3")
# Fixed path, not under $PEERPULL_STATE: fleets in different state dirs share the host's
# 198.18.N.0/24 space, so index allocation must be serialised host-wide.
ALLOCATION_LOCK = Path("/run/lock/peerpull-fleet.lock")


class FleetError(Exception):
    """A failure with a message that says what to do; printed without a traceback."""


def log(message: str) -> None:
    print(f"fleet: {message}", file=sys.stderr, flush=True)


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a command, raising FleetError with its output when it fails."""
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    result = subprocess.run(cmd, check=False, **kwargs)
    if result.returncode != 0:
        output = ((result.stdout or "") + (result.stderr or "")).strip()
        raise FleetError(f"{' '.join(cmd)} failed ({result.returncode}): {output}")
    return result


def write_atomically(path: Path, text: str, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.chmod(mode)
    os.replace(tmp, path)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"({path} is missing)"


# --- processes -------------------------------------------------------------------


def process_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks, or None if it is gone or a zombie.

    Recorded next to every PID so that a recycled PID is never signalled."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


class Proc(NamedTuple):
    """A process as recorded: PID plus start time, so a recycled PID is never signalled."""
    pid: int | None
    start: int | None

    @classmethod
    def of(cls, pid: int) -> Proc:
        return cls(pid, process_start_time(pid))

    def alive(self) -> bool:
        return bool(self.pid) and self.start is not None and process_start_time(self.pid) == self.start


def reap(pid: int) -> None:
    """Collect a child's exit status when this process started it (tests importing us)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def is_namespace_init(pid: int) -> bool:
    """Whether `pid` is PID 1 of a PID namespace below ours: a container's init."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    nspid = re.search(r"^NSpid:\s+(.*)$", status, re.M)
    return bool(nspid) and len(nspid.group(1).split()) > 1 and nspid.group(1).split()[-1] == "1"


def namespace_init_child(pid: int) -> int | None:
    """The child of nspawn `pid` that is its container's init."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    return next((int(child) for child in children if is_namespace_init(int(child))), None)


# --- mounts and safe removal -----------------------------------------------------


class Mount(NamedTuple):
    point: str
    fstype: str
    options: str  # the filesystem's own options: an overlay's lowerdir= and friends


def mount_table() -> list[Mount]:
    table = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mount_fields, filesystem_fields = (part.split() for part in line.split(" - ", 1))
        point = mount_fields[4].encode().decode("unicode_escape")  # "\040" is a space
        table.append(Mount(point, filesystem_fields[0], filesystem_fields[-1]))
    return table


def mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve())
    points = {m.point for m in mount_table() if m.point == prefix or m.point.startswith(prefix + "/")}
    return sorted(points, key=len, reverse=True)


def unmount_all_under(path: Path) -> None:
    """Unmount everything at or below `path`, deepest first; lazily when busy."""
    for point in mounts_under(path):
        if subprocess.run(["umount", point], capture_output=True, check=False).returncode != 0:
            log(f"{point} is busy; detaching it lazily")
            run(["umount", "--lazy", point])


def remove_tree(path: Path) -> None:
    """rm -rf that never descends into a mount (a debootstrap /proc, a live overlay)."""
    if not path.exists() and not path.is_symlink():
        return
    unmount_all_under(path)
    if mounts_under(path):
        raise FleetError(f"{path} still has mounts: {mounts_under(path)}; unmount them and retry")
    shutil.rmtree(path)


# --- rootfs cache ----------------------------------------------------------------


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


# Each node's containerd and systemd take inotify instances; two fleets of ten nodes
# exhaust the kernel's default of 128 per user, and containerd's CRI plugin then fails
# with "too many open files". Kind's documentation raises it the same way.
INOTIFY_INSTANCES = Path("/proc/sys/fs/inotify/max_user_instances")
INOTIFY_INSTANCES_PER_NODE = 16
INOTIFY_INSTANCES_FLOOR = 1024


def raise_inotify_limit(nodes: int) -> None:
    current = int(INOTIFY_INSTANCES.read_text())
    wanted = max(INOTIFY_INSTANCES_FLOOR, nodes * INOTIFY_INSTANCES_PER_NODE)
    if current < wanted:
        log(f"raising fs.inotify.max_user_instances from {current} to {wanted}")
        INOTIFY_INSTANCES.write_text(f"{wanted}\n")


# --- test image ------------------------------------------------------------------


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclasses.dataclass
class SeedImage:
    layer: bytes
    config: bytes
    manifest: bytes

    @property
    def digest(self) -> str:
        return digest_of(self.manifest)

    def blobs(self) -> tuple[bytes, ...]:
        return (self.manifest, self.config, self.layer)


def build_test_image() -> SeedImage:
    """A one-layer linux/amd64 image, byte-for-byte reproducible (fixed mtimes)."""
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        name, content = TEST_IMAGE_FILE
        member = tarfile.TarInfo(name)
        member.size, member.mode, member.mtime = len(content), 0o644, 0
        tar.addfile(member, io.BytesIO(content))
    layer_tar = tar_bytes.getvalue()
    layer = gzip.compress(layer_tar, mtime=0)
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [digest_of(layer_tar)]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "peerpull fleet.py"}],
    }, sort_keys=True).encode()
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST_TYPE,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "size": len(config), "digest": digest_of(config)},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": len(layer), "digest": digest_of(layer)}],
    }, sort_keys=True).encode()
    return SeedImage(layer=layer, config=config, manifest=manifest)


def oci_archive(image: SeedImage) -> bytes:
    """The image as an OCI image layout tar that `ctr images import` names TEST_IMAGE_REF."""
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": DOCKER_MANIFEST_TYPE, "size": len(image.manifest), "digest": image.digest,
            "annotations": {"io.containerd.image.name": TEST_IMAGE_REF,
                            "org.opencontainers.image.ref.name": TEST_IMAGE_TAG},
        }],
    }
    files = {"oci-layout": b'{"imageLayoutVersion": "1.0.0"}',
             "index.json": json.dumps(index, sort_keys=True).encode()}
    for blob in image.blobs():
        files[f"blobs/sha256/{digest_of(blob).split(':', 1)[1]}"] = blob
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in ("blobs", "blobs/sha256"):
            directory = tarfile.TarInfo(name)
            directory.type, directory.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(directory)
        for name, data in files.items():
            member = tarfile.TarInfo(name)
            member.size, member.mode = len(data), 0o644
            tar.addfile(member, io.BytesIO(data))
    return archive.getvalue()


def seed_test_image(fleet: Fleet, image: SeedImage, timeout: float = 90) -> None:
    """Import the test image on the seed node only, as a pull would leave it, and wait
    until Spegel on the first test node can find it among its peers.

    `ctr images import` does not add the containerd.io/distribution.source labels that a
    pull adds and that Spegel advertises content by, so they are set here; Spegel reads
    them when it starts (on containerd 1.x it learns of new content no other way)."""
    seed = fleet.seed_node()
    archive = "/var/tmp/peerpull-test.tar"
    (fleet.node_dir(seed) / "root" / archive.lstrip("/")).write_bytes(oci_archive(image))
    label = f"containerd.io/distribution.source.docker.io={TEST_IMAGE_REPOSITORY}"
    script = "\n".join([
        "set -e",
        f"ctr -n k8s.io images import {archive} >/dev/null",
        f"rm {archive}",
        *(f"ctr -n k8s.io content label {digest_of(blob)} {label} >/dev/null" for blob in image.blobs()),
        "systemctl restart spegel",
    ])
    run(ssh_command(fleet, seed, ["sh", "-c", shlex.quote(script)]))
    wait_until_spegel_finds(fleet.test_nodes()[0], image.digest, timeout=timeout)


def wait_until_spegel_finds(node: Node, manifest: str, blobs: tuple[str, ...] = (),
                            timeout: float = 90) -> None:
    """Wait until Spegel on `node` finds peers that serve the test image: its tag (what a
    pull resolves first), its `manifest` digest and the given blob digests."""
    paths = [f"manifests/{reference}" for reference in (TEST_IMAGE_TAG, manifest)]
    for path in paths + [f"blobs/{blob}" for blob in blobs]:
        _wait_for_spegel(node, "HEAD", f"/v2/{TEST_IMAGE_REPOSITORY}/{path}?ns=docker.io",
                         f"found no peer with {TEST_IMAGE_REPOSITORY} {path}", timeout)


def wait_until_spegel_ready(node: Node, timeout: float = 90) -> None:
    """Wait until Spegel on `node` is ready: it runs (it restarts with containerd) and
    has a peer."""
    _wait_for_spegel(node, "GET", "/readyz", "was not ready", timeout)


def _wait_for_spegel(node: Node, method: str, path: str, failure: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            status = spegel_request(node.address, method, path)
        except OSError as error:
            status = str(error)
        if status == 200:
            return
        if time.monotonic() > deadline:
            raise FleetError(f"Spegel on {node.hostname} {failure} within {timeout:g}s "
                             f"(last answer {status}); see `journalctl -u spegel` on the nodes")
        time.sleep(0.5)


def spegel_request(host: str, method: str, path: str) -> int:
    """Status of one request to Spegel's registry on `host` (an IP)."""
    connection = http.client.HTTPConnection(host, SPEGEL_PORT, timeout=10)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def spegel_requests(fleet: Fleet, node: Node, since: float) -> list[dict]:
    """The access log of the node's Spegel since `since` (host time; nodes share its
    clock): one dict per request (handler, method, path, status, ip)."""
    output = run(ssh_command(fleet, node, [
        "journalctl", "-u", "spegel", "-o", "cat", "--no-pager", f"--since=@{int(since)}"])).stdout
    requests = []
    for line in output.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and "handler" in entry and "path" in entry:
            requests.append({key: entry.get(key) for key in ("handler", "method", "path", "status", "ip")})
    return requests


def served_by(fleet: Fleet, requester: Node, digest: str, since: float) -> list[str]:
    """Nodes whose Spegel served blob or manifest `digest` to `requester`'s Spegel since
    `since`: the peers of a peer-to-peer pull, named from Spegel's own access logs."""
    addresses = {address for address in (requester.ipv4, requester.ipv6) if address}
    return [node.name for node in fleet.nodes if node is not requester and any(
        entry["handler"] in ("blob", "manifest") and entry["status"] == 200
        and entry["ip"] in addresses and entry["path"].endswith(digest)
        for entry in spegel_requests(fleet, node, since))]


# --- fleet state -----------------------------------------------------------------


@dataclasses.dataclass
class NodeSpec:
    flavour: str
    default_route: bool = True
    ipv4: bool = True
    ipv6: bool = True
    containerd_build: str = ""  # a CONTAINERD_BUILDS family run instead of the suite's own
    image: str = ""  # a directory made by `fleet.py image`: boot from that node's changes
    kubelet_node_ip: bool = False  # /etc/default/kubelet names the node's address (--node-ip)


@dataclasses.dataclass
class Node:
    name: str              # short name inside the fleet: n1, n2, ...
    hostname: str          # <fleet>-<name>: machine name, hostname, inventory name
    flavour: str
    ipv4: str              # "" when ipv6-only
    ipv6: str              # "" when no-ipv6
    default_route: bool
    rootfs: str
    containerd_version: str
    containerd_build: str = ""  # directory of a containerd build bound over the suite's own
    spegel_binary: str = ""
    seed: bool = False  # the node holding the test image; not in the inventory
    kubelet_node_ip: bool = False
    nspawn_pid: int | None = None
    nspawn_start: int | None = None
    leader_pid: int | None = None
    leader_start: int | None = None

    @property
    def address(self) -> str:
        return self.ipv4 or self.ipv6

    @property
    def leader(self) -> Proc:
        return Proc(self.leader_pid, self.leader_start)


@dataclasses.dataclass
class Fleet:
    name: str
    index: int
    nodes: list[Node] = dataclasses.field(default_factory=list)

    @property
    def dir(self) -> Path:
        return STATE_ROOT / self.name

    @property
    def bridge(self) -> str:
        return bridge_name(self.name)

    @property
    def key(self) -> Path:
        return self.dir / "id_ed25519"

    @property
    def inventory(self) -> Path:
        return self.dir / "inventory.yml"

    def node_dir(self, node: Node) -> Path:
        return self.dir / "nodes" / node.name

    def save(self) -> None:
        write_atomically(self.dir / "fleet.json", json.dumps(dataclasses.asdict(self), indent=2))

    @classmethod
    def load(cls, name: str) -> Fleet:
        path = STATE_ROOT / name / "fleet.json"
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise FleetError(f"no fleet {name!r} ({path} is missing); start one with "
                             f"`fleet.py up --name {name} --nodes ...`") from None
        except (OSError, ValueError) as error:
            raise FleetError(f"{path} is unreadable ({error}); run `fleet.py down --name {name}`"
                             ) from None
        data["nodes"] = [Node(**node) for node in data["nodes"]]
        return cls(**data)

    def seed_node(self) -> Node:
        return next(node for node in self.nodes if node.seed)

    def test_nodes(self) -> list[Node]:
        return [node for node in self.nodes if not node.seed]

    def find_node(self, wanted: str) -> Node:
        for node in self.nodes:
            if wanted in (node.name, node.hostname, node.name.lstrip("n"), node.address):
                return node
        names = ", ".join(node.name for node in self.nodes)
        raise FleetError(f"fleet {self.name} has no node {wanted!r}; it has {names}")


def validate_fleet_name(name: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,19}", name):
        raise argparse.ArgumentTypeError(
            "fleet names are 1-20 characters of a-z, 0-9 and '-', starting with a letter or digit")
    return name


def bridge_name(fleet_name: str) -> str:
    """One bridge per fleet; interface names are limited to 15 characters."""
    name = f"spg-{fleet_name}"
    if len(name) <= 15:
        return name
    return f"spg-{fleet_name[:6]}-{hashlib.sha256(fleet_name.encode()).hexdigest()[:4]}"


def parse_node_specs(text: str) -> list[NodeSpec]:
    """'bookworm,trixie:no-default-route,sid:ipv6-only' -> one NodeSpec per node."""
    specs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        flavour, *options = item.split(":")
        if flavour not in FLAVOURS:
            raise argparse.ArgumentTypeError(f"unknown flavour {flavour!r}; pick from {FLAVOURS}")
        spec = NodeSpec(flavour)
        for option in options:
            if option.startswith("image="):
                spec.image = str(Path(option.split("=", 1)[1]).resolve())
                if not (Path(spec.image) / IMAGE_META).is_file():
                    raise argparse.ArgumentTypeError(f"{item}: {spec.image} is not made by `fleet.py image`")
                if json.loads((Path(spec.image) / IMAGE_META).read_text())["flavour"] != flavour:
                    raise argparse.ArgumentTypeError(f"{item}: {spec.image} is not a {flavour} image")
                continue
            if option not in NODE_OPTIONS:
                raise argparse.ArgumentTypeError(
                    f"unknown node option {option!r}; pick from {NODE_OPTIONS}")
            spec.default_route &= option != "no-default-route"
            spec.kubelet_node_ip |= option == "kubelet-node-ip"
            spec.ipv6 = option != "no-ipv6" and (spec.ipv6 or option in ("ipv6", "ipv6-only"))
            spec.ipv4 &= option != "ipv6-only"
            if option.startswith("containerd="):
                if flavour != "sid":
                    raise argparse.ArgumentTypeError(f"{item}: containerd builds run on sid nodes only")
                spec.containerd_build = option.split("=", 1)[1]
        if not (spec.ipv4 or spec.ipv6):
            raise argparse.ArgumentTypeError(f"{item}: a node needs IPv4 or IPv6")
        specs.append(spec)
    if not specs:
        raise argparse.ArgumentTypeError("give at least one node, e.g. --nodes bookworm,sid")
    return specs


class AllocationLock:
    """Serialises claiming a fleet (name, index, bridge) and removing one."""

    def __enter__(self):
        ALLOCATION_LOCK.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(ALLOCATION_LOCK, "w")
        fcntl.flock(self.handle, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        self.handle.close()


def fleet_names() -> list[str]:
    """Fleets in the state dir: directories holding a fleet.json (claim writes it first)."""
    if not STATE_ROOT.is_dir():
        return []
    return sorted(p.parent.name for p in STATE_ROOT.glob("*/fleet.json"))


def allocate_index() -> int:
    """The lowest 198.18.N.0/24 that no fleet and no host interface uses."""
    used = set()
    for name in fleet_names():
        try:
            used.add(json.loads((STATE_ROOT / name / "fleet.json").read_text())["index"])
        except (OSError, ValueError, KeyError):
            pass
    addresses = run(["ip", "-o", "-4", "addr", "show"]).stdout
    used.update(int(n) for n in re.findall(rf"inet {re.escape(IPV4_PREFIX)}\.(\d+)\.", addresses))
    for index in range(1, MAX_FLEET_INDEX + 1):
        if index not in used:
            return index
    raise FleetError("no free fleet index; tear fleets down with `fleet.py down --all`")


# --- cgroups ---------------------------------------------------------------------


def cgroup_roots() -> list[Path]:
    """Mount points of the hierarchies nspawn uses: cgroup2, and v1 name=systemd on a
    hybrid host like this one."""
    return [Path(m.point) for m in mount_table()
            if m.fstype == "cgroup2" or (m.fstype == "cgroup" and "name=systemd" in m.options.split(","))]


def node_cgroups(fleet_name: str, node_name: str | None = None) -> list[Path]:
    parts = [CGROUP_SUBTREE, fleet_name] + ([node_name] if node_name else [])
    return [root.joinpath(*parts) for root in cgroup_roots()]


def remove_cgroups(fleet_name: str) -> None:
    for root in cgroup_roots():
        fleet_cgroup = root / CGROUP_SUBTREE / fleet_name
        if fleet_cgroup.is_dir():
            children = sorted((p for p in fleet_cgroup.rglob("*") if p.is_dir()),
                              key=lambda p: len(p.parts), reverse=True)
            for cgroup in children + [fleet_cgroup]:
                remove_cgroup(cgroup)
        try:  # shared by all fleets: goes only with the last one
            (root / CGROUP_SUBTREE).rmdir()
        except OSError:
            pass


def remove_cgroup(cgroup: Path) -> None:
    """rmdir, retried briefly: an exited process leaves its cgroup a moment later."""
    for attempt in range(50):
        try:
            cgroup.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as error:
            if attempt == 49:
                raise FleetError(f"cannot remove cgroup {cgroup}: {error}; "
                                 f"processes left: {(cgroup / 'cgroup.procs').read_text().split()}")
            time.sleep(0.1)


def processes_in_fleet_cgroups(fleet_name: str) -> tuple[set[Proc], set[Proc]]:
    """(nspawns, container inits) in the cgroups this tool made for the fleet: the
    fallback record when fleet.json lost a PID (a crashed `up`)."""
    nspawns, inits = set(), set()
    for fleet_cgroup in node_cgroups(fleet_name):
        if not fleet_cgroup.is_dir():
            continue
        for procs in fleet_cgroup.rglob("cgroup.procs"):
            for pid in map(int, procs.read_text().split()):
                if is_namespace_init(pid):
                    inits.add(Proc.of(pid))
                elif Path(f"/proc/{pid}/comm").read_text().strip() == "systemd-nspawn":
                    nspawns.add(Proc.of(pid))
    return nspawns, inits


# --- node lifecycle --------------------------------------------------------------


def nspawn_command(fleet: Fleet, node: Node) -> list[str]:
    node_dir = fleet.node_dir(node)
    return [
        "systemd-nspawn",
        "--boot",                    # run the image's systemd as PID 1
        "--register=no",             # no systemd-machined on this host
        "--keep-unit",               # no host systemd to create a scope unit
        f"--machine={node.hostname}",
        f"--directory={node_dir / 'root'}",
        f"--network-bridge={fleet.bridge}",
        # overlayfs cannot be an overlay upperdir; a plain directory lets containerd's
        # overlayfs snapshotter mount multi-layer images and containers.
        f"--bind={node_dir / 'containerd'}:/var/lib/containerd",
        f"--bind-ro={node.spegel_binary}:{SPEGEL_BINARY}",
        *(f"--bind-ro={Path(node.containerd_build, name)}:/usr/bin/{name}"
          for name in ("containerd", "ctr") if node.containerd_build),
        "--resolv-conf=off",         # keep the image's resolver-free resolv.conf
        "--timezone=off",
        "--link-journal=no",
        "--console=read-only",       # boot messages go to console.log
    ]


def etc_hosts(fleet: Fleet) -> str:
    lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost ip6-loopback"]
    for node in fleet.nodes:
        lines += [f"{ip} {node.hostname} {node.name} {SPEGEL_PEERS_NAME}"
                  for ip in (node.ipv4, node.ipv6) if ip]
    return "\n".join(lines) + "\n"


def start_node(fleet: Fleet, node: Node) -> None:
    """Mount the node's overlay, seed its identity, start nspawn and address host0."""
    node_dir = fleet.node_dir(node)
    root = node_dir / "root"
    for sub in ("upper", "work", "root", "containerd"):
        (node_dir / sub).mkdir(parents=True, exist_ok=True)
    run(["mount", "-t", "overlay", "overlay", "-o",
         f"lowerdir={node.rootfs},upperdir={node_dir / 'upper'},workdir={node_dir / 'work'}",
         str(root)])
    # Written through the merged mount so overlayfs copies parent directory modes up.
    (root / "etc/machine-id").write_text(uuid.uuid4().hex + "\n")
    (root / "etc/hostname").write_text(node.hostname + "\n")
    (root / "etc/hosts").write_text(etc_hosts(fleet))
    authorized = root / "root/.ssh/authorized_keys"
    authorized.write_text(Path(f"{fleet.key}.pub").read_text())
    authorized.chmod(0o600)
    if node.kubelet_node_ip:
        # Where kubelet's flags live on Debian (KUBELET_EXTRA_ARGS); there is no kubelet.
        (root / "etc/default/kubelet").write_text(f"KUBELET_EXTRA_ARGS=--node-ip={node.address}\n")

    cgroups = node_cgroups(fleet.name, node.name)

    def enter_own_cgroups():
        # nspawn puts the container into <its cgroup>/payload; sharing a cgroup
        # between two nspawns would make the containers collide.
        for cgroup in cgroups:
            (cgroup / "cgroup.procs").write_text(str(os.getpid()))

    with open(node_dir / "console.log", "w") as console:
        process = subprocess.Popen(
            nspawn_command(fleet, node), stdin=subprocess.DEVNULL, stdout=console,
            stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=enter_own_cgroups,
            env={**os.environ, "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY": "1"})
    node.nspawn_pid, node.nspawn_start = process.pid, process_start_time(process.pid)
    fleet.save()

    deadline = time.monotonic() + 15
    while (leader := namespace_init_child(process.pid)) is None:
        if process.poll() is not None or time.monotonic() > deadline:
            raise FleetError(f"systemd-nspawn for {node.hostname} did not start its container; "
                             f"{node_dir / 'console.log'}:\n{tail(node_dir / 'console.log')}")
        time.sleep(0.02)
    node.leader_pid, node.leader_start = leader, process_start_time(leader)
    fleet.save()

    while "host0:" not in Path(f"/proc/{leader}/net/dev").read_text():
        if time.monotonic() > deadline:
            raise FleetError(f"{node.hostname}: host0 never appeared in the container")
        time.sleep(0.02)
    prefix4, prefix6 = f"{IPV4_PREFIX}.{fleet.index}", f"{IPV6_PREFIX}:{fleet.index}"
    commands = ["link set lo up", "link set host0 up"]
    if node.ipv4:
        commands.append(f"addr add {node.ipv4}/24 dev host0")
        if node.default_route:
            commands.append(f"route add default via {prefix4}.1")
    if node.ipv6:
        commands.append(f"addr add {node.ipv6}/64 dev host0 nodad")
        if node.default_route:
            commands.append(f"route add default via {prefix6}::1")
    run(["nsenter", f"--target={leader}", "--net", "ip", "-batch", "-"],
        input="\n".join(commands) + "\n")


def node_journal(node: Node, lines: int = 40) -> str:
    if not node.leader.alive():
        return "(container is not running)"
    result = subprocess.run(
        ["nsenter", f"--target={node.leader_pid}", "--mount", "--uts", "--ipc", "--net", "--pid",
         "journalctl", "-b", "--no-pager", "-n", str(lines)],
        capture_output=True, text=True, timeout=20, check=False)
    return (result.stdout + result.stderr).strip()


def ssh_command(fleet: Fleet, node: Node, command: list[str]) -> list[str]:
    options = [arg for option in SSH_TOOL_OPTIONS for arg in ("-o", option)]
    argv = ["ssh", "-i", str(fleet.key), *options, f"root@{node.address}"]
    return argv + ["--", *command] if command else argv


def wait_until_ready(fleet: Fleet, node: Node, timeout: float) -> str:
    """Wait for SSH and a finished boot; return the system state (running/degraded)."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if not node.leader.alive():
            raise FleetError(f"{node.hostname} stopped while booting; "
                             f"{fleet.node_dir(node) / 'console.log'}:\n"
                             f"{tail(fleet.node_dir(node) / 'console.log')}")
        try:
            result = subprocess.run(
                ssh_command(fleet, node, ["systemctl", "is-system-running", "--wait"]),
                capture_output=True, text=True, check=False,
                timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            break
        last = (result.stdout + result.stderr).strip()
        if result.stdout.strip() in ("running", "degraded"):
            return result.stdout.strip()
        time.sleep(0.2)
    raise FleetError(
        f"{node.hostname} ({node.address}) was not ready after {timeout:g}s "
        f"(last answer: {last or 'none'}). Journal tail:\n{node_journal(node)}\n"
        f"Inspect with `fleet.py status --name {fleet.name}`, then `fleet.py down --name {fleet.name}`")


def write_inventory(fleet: Fleet, image: SeedImage) -> None:
    """Ansible YAML inventory of the test nodes (not the seed); strings are JSON-quoted,
    which YAML reads as-is."""
    q = json.dumps
    lines = [f"# Written by tests/fleet/fleet.py up --name {fleet.name}; removed by down.",
             "all:", "  vars:",
             f"    fleet_name: {q(fleet.name)}",
             f"    fleet_spegel_port: {SPEGEL_PORT}",
             f"    fleet_test_image: {q(TEST_IMAGE_REF)}",
             f"    fleet_test_image_digest: {q(image.digest)}",
             f"    fleet_test_image_layer: {q(digest_of(image.layer))}",
             f"    fleet_seed_node: {q(fleet.seed_node().hostname)}",
             "  hosts:"]
    for node in fleet.test_nodes():
        lines += [
            f"    {node.hostname}:",
            f"      ansible_host: {q(node.address)}",
            "      ansible_user: root",
            f"      ansible_ssh_private_key_file: {q(str(fleet.key))}",
            f"      ansible_ssh_common_args: {q(' '.join('-o ' + o for o in SSH_COMMON_OPTIONS))}",
            "      ansible_python_interpreter: /usr/bin/python3",
            f"      fleet_flavour: {node.flavour}",
            f"      fleet_node_ipv4: {q(node.ipv4)}",
            f"      fleet_node_ipv6: {q(node.ipv6)}",
            f"      fleet_default_route: {str(node.default_route).lower()}",
            f"      fleet_containerd_version: {q(node.containerd_version)}",
        ]
    lines.append("  children:")
    for flavour in sorted({node.flavour for node in fleet.test_nodes()}):
        lines += [f"    {flavour}:", "      hosts:"]
        lines += [f"        {n.hostname}: {{}}" for n in fleet.test_nodes() if n.flavour == flavour]
    write_atomically(fleet.inventory, "\n".join(lines) + "\n")


def claim_fleet(name: str, specs: list[NodeSpec], caches: dict[str, CachedRootfs],
                programs: dict[str, Path]) -> Fleet:
    """Reserve the name, a 198.18.N.0/24 index and the bridge; write the plan: the nodes
    asked for (n1, n2, ...), then the seed node."""
    with AllocationLock():
        if (STATE_ROOT / name).exists():
            raise FleetError(f"fleet {name} already exists; run `fleet.py down --name {name}` "
                             "first, or pass --replace")
        if Path(f"/sys/class/net/{bridge_name(name)}").exists():
            raise FleetError(f"bridge {bridge_name(name)} already exists (a fleet {name} in "
                             "another state dir?); pick another --name")
        fleet = Fleet(name=name, index=allocate_index())
        fleet.dir.mkdir(mode=0o700, parents=True)
        fleet.save()
        prefix4, prefix6 = f"{IPV4_PREFIX}.{fleet.index}", f"{IPV6_PREFIX}:{fleet.index}"
        run(["ip", "link", "add", "name", fleet.bridge, "type", "bridge"])
        run(["ip", "addr", "add", f"{prefix4}.1/24", "dev", fleet.bridge])
        run(["ip", "addr", "add", f"{prefix6}::1/64", "dev", fleet.bridge, "nodad"])
        run(["ip", "link", "set", fleet.bridge, "up"])
        # The seed speaks the families the fleet speaks: Spegel's peers learn each other's
        # addresses from whoever they hear them from, and an IPv6-only node cannot use an
        # IPv4 address it was told (IPv6-only fleets are proven on their own).
        seed = NodeSpec(SEED_FLAVOUR, ipv4=any(spec.ipv4 for spec in specs),
                        ipv6=any(spec.ipv6 for spec in specs))
        for number, spec in enumerate([*specs, seed], start=1):
            node_name = "seed" if spec is seed else f"n{number}"
            build = programs[CONTAINERD_BUILDS[spec.containerd_build]] if spec.containerd_build else None
            image = json.loads((Path(spec.image) / IMAGE_META).read_text()) if spec.image else {}
            if image and not Path(image["base"]).is_dir():
                raise FleetError(f"{spec.image}: its base rootfs {image['base']} is gone (rebuilt "
                                 "since?); make the image again")
            build = Path(image["containerd_build"]) if image.get("containerd_build") else build
            # The seed takes the lowest address: Spegel's DNS bootstrap dials the first
            # three addresses per family, and every node must reach the image's holder.
            host = NODE_HOST_OFFSET + (0 if spec is seed else number)
            fleet.nodes.append(Node(
                name=node_name, hostname=f"{name}-{node_name}", flavour=spec.flavour,
                ipv4=f"{prefix4}.{host}" if spec.ipv4 else "",
                ipv6=f"{prefix6}::{host}" if spec.ipv6 else "",
                default_route=spec.default_route,
                # An image is the builder's overlay upper dir stacked on its base rootfs.
                rootfs=f"{spec.image}/upper:{image['base']}" if image else str(caches[spec.flavour].rootfs),
                containerd_version=(image["containerd_version"] if image else
                                    json.loads((build / gomod.METADATA).read_text())["version"].lstrip("v")
                                    if build else caches[spec.flavour].meta()["containerd_version"]),
                containerd_build=str(build or ""), spegel_binary=str(programs[SPEGEL_PROGRAM] / "spegel"),
                seed=spec is seed, kubelet_node_ip=spec.kubelet_node_ip))
            for cgroup in node_cgroups(name, node_name):
                cgroup.mkdir(parents=True, exist_ok=True)
        fleet.save()
    return fleet


def start_fleet(fleet: Fleet, timeout: float) -> None:
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"peerpull-fleet-{fleet.name}",
         "-f", str(fleet.key)])
    for node in fleet.nodes:
        start_node(fleet, node)
    with ThreadPoolExecutor(max_workers=len(fleet.nodes)) as pool:
        states = list(pool.map(lambda n: wait_until_ready(fleet, n, timeout), fleet.nodes))
    for node, state in zip(fleet.nodes, states):
        if state == "degraded":
            failed = subprocess.run(
                ssh_command(fleet, node, ["systemctl", "--failed", "--plain", "--no-legend"]),
                capture_output=True, text=True, check=False).stdout.strip()
            log(f"warning: {node.hostname} is degraded; failed units: {failed}")
    image = build_test_image()
    seed_test_image(fleet, image)
    write_inventory(fleet, image)


def bring_up(name: str, specs: list[NodeSpec], timeout: float, keep_on_failure: bool,
             stop_timeout: float) -> Fleet:
    caches = build_flavours([spec.flavour for spec in specs] + [SEED_FLAVOUR])
    builds = [CONTAINERD_BUILDS[spec.containerd_build] for spec in specs if spec.containerd_build]
    programs = build_programs([SPEGEL_PROGRAM, *builds])
    raise_inotify_limit(len(specs) + 1)
    fleet = claim_fleet(name, specs, caches, programs)
    try:
        start_fleet(fleet, timeout)
    except BaseException:
        if keep_on_failure:
            log(f"left the failed fleet in place (--keep-on-failure); "
                f"remove it with `fleet.py down --name {name}`")
        else:
            log("tearing the failed fleet down (pass --keep-on-failure to inspect it)")
            tear_down(name, stop_timeout)
        raise
    return fleet


# --- teardown --------------------------------------------------------------------


def stop_processes(fleet_name: str, nodes: list[Node], timeout: float) -> None:
    """SIGTERM each nspawn (it powers its container off cleanly), SIGRTMIN+4 (poweroff)
    to containers whose nspawn is gone; after `timeout`, SIGKILL the container inits
    (which ends their whole PID namespace) and the nspawns."""
    nspawns, leaders = processes_in_fleet_cgroups(fleet_name)
    for node in nodes:
        nspawns.add(Proc(node.nspawn_pid, node.nspawn_start))
        leaders.add(Proc(node.leader_pid, node.leader_start))
    nspawns = {proc for proc in nspawns if proc.alive()}
    leaders = {proc for proc in leaders if proc.alive()}
    guarded = set()  # containers whose nspawn is alive and will shut them down
    for nspawn in nspawns:
        if (leader := namespace_init_child(nspawn.pid)) is not None:
            leaders.add(Proc.of(leader))
            guarded.add(leader)
    orphaned = {proc for proc in leaders if proc.pid not in guarded}

    def signal_all(targets: set[Proc], signum: int) -> None:
        for proc in targets:
            if proc.alive():
                try:
                    os.kill(proc.pid, signum)
                except ProcessLookupError:
                    pass

    def wait_gone(targets: set[Proc], seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for proc in targets:
                reap(proc.pid)
            if not any(proc.alive() for proc in targets):
                return True
            time.sleep(0.05)
        return False

    everything = nspawns | leaders
    signal_all(nspawns, signal.SIGTERM)
    signal_all(orphaned, signal.SIGRTMIN + 4)
    if not wait_gone(everything, timeout):
        log(f"containers still up after {timeout:.0f}s; killing them")
        signal_all(leaders, signal.SIGKILL)
        signal_all(nspawns, signal.SIGKILL)
        if not wait_gone(everything, 10):
            raise FleetError(f"processes {sorted(p.pid for p in everything)} survived SIGKILL")


def tear_down(name: str, timeout: float) -> None:
    """Remove every trace of fleet `name`; safe to repeat and after any crash."""
    fleet_dir = STATE_ROOT / name
    try:
        fleet = Fleet.load(name)
        nodes, bridge = fleet.nodes, fleet.bridge
    except FleetError:
        nodes, bridge = [], bridge_name(name)  # state lost: fall back to names and cgroups
    stop_processes(name, nodes, timeout)
    unmount_all_under(fleet_dir)
    if Path(f"/sys/class/net/{bridge}").exists():
        run(["ip", "link", "delete", bridge])
    # nspawn leaves this behind when /run is not a tmpfs (it refuses to rm -rf a disk fs).
    for propagate in Path("/run/systemd/nspawn/propagate").glob(f"{name}-n*"):
        if re.fullmatch(rf"{re.escape(name)}-n\d+", propagate.name):
            remove_tree(propagate)
    with AllocationLock():
        remove_cgroups(name)
        if fleet_dir.is_dir() and not (fleet_dir / "fleet.json").exists() and any(fleet_dir.iterdir()):
            raise FleetError(f"{fleet_dir} has no fleet.json: not a fleet's state; left it alone")
        remove_tree(fleet_dir)
        try:  # the state root goes with the last fleet
            STATE_ROOT.rmdir()
        except OSError:
            pass


# --- commands --------------------------------------------------------------------


def cmd_build(args) -> None:
    flavours = args.flavour or list(FLAVOURS)
    caches = build_flavours(flavours, force=args.force)
    for flavour, cached in caches.items():
        meta = cached.meta()
        print(f"{flavour}\tcontainerd {meta['containerd_version']}\t{cached.rootfs}")


def cmd_up(args) -> None:
    started = time.monotonic()
    if args.replace:
        tear_down(args.name, args.stop_timeout)
    fleet = bring_up(args.name, args.nodes, args.timeout, args.keep_on_failure,
                     args.stop_timeout)
    log(f"fleet {fleet.name} up in {time.monotonic() - started:.1f}s on bridge {fleet.bridge}")
    print(fleet.inventory)


def make_image(name: str, wanted: str, output: Path, timeout: float) -> Path:
    """Power fleet `name` off and turn one node's changes (its overlay upper dir) into an
    image: OUTPUT/upper plus OUTPUT/image.json naming the base rootfs it goes on. Nodes boot
    from it with the node option image=OUTPUT. The fleet stays until `down`."""
    fleet = Fleet.load(name)
    node = fleet.find_node(wanted)
    if output.exists():
        raise FleetError(f"{output} exists; remove it or pick another --output")
    stop_processes(name, fleet.nodes, timeout)
    unmount_all_under(fleet.dir)
    output.mkdir(parents=True)
    # cp -a keeps overlayfs's whiteouts (0/0 character devices) and opaque-dir xattrs.
    run(["cp", "-a", str(fleet.node_dir(node) / "upper"), str(output / "upper")])
    base = node.rootfs.split(":")[-1]
    write_atomically(output / IMAGE_META, json.dumps({
        "flavour": node.flavour, "base": base, "from": node.hostname,
        "containerd_version": node.containerd_version, "containerd_build": node.containerd_build,
        "made": time.time()}, indent=2) + "\n")
    return output


def cmd_image(args) -> None:
    print(make_image(args.name, args.node, Path(args.output).resolve(), args.stop_timeout))


def cmd_down(args) -> None:
    started = time.monotonic()
    names = fleet_names() if args.all else [args.name]
    for name in names:
        tear_down(name, args.stop_timeout)
        log(f"fleet {name} is down")
    log(f"down took {time.monotonic() - started:.1f}s")


def cmd_status(args) -> None:
    names = [args.name] if args.name else fleet_names()
    for name in names:
        fleet = Fleet.load(name)
        print(f"fleet {fleet.name}: bridge {fleet.bridge}, inventory {fleet.inventory}")
        for node in fleet.nodes:
            state = "stopped"
            if node.leader.alive():
                result = subprocess.run(
                    ["nsenter", f"--target={node.leader_pid}", "--mount", "--pid",
                     "systemctl", "is-system-running"],
                    capture_output=True, text=True, timeout=20, check=False)
                state = result.stdout.strip() or result.stderr.strip()
            route = "" if node.default_route else " no-default-route"
            print(f"  {node.name} {node.hostname} {node.flavour} containerd "
                  f"{node.containerd_version} {node.ipv4 or '-'} {node.ipv6 or '-'} "
                  f"leader={node.leader_pid} {state}{route}")


def cmd_ssh(args) -> None:
    fleet = Fleet.load(args.name)
    node = fleet.find_node(args.node)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    argv = ssh_command(fleet, node, command)
    os.execvp(argv[0], argv)


def cmd_served_by(args) -> None:
    fleet = Fleet.load(args.name)
    peers = served_by(fleet, fleet.find_node(args.node), args.digest, args.since)
    print(" ".join(peers))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Disposable systemd-nspawn nodes (sshd, containerd, Spegel on "
                    f":{SPEGEL_PORT}) for the peerpull.spegel tests. Caches: {CACHE_ROOT} "
                    f"($PEERPULL_CACHE); run state: {STATE_ROOT} ($PEERPULL_STATE).")
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="build and cache the Debian rootfs per flavour")
    build.add_argument("--flavour", action="append", choices=FLAVOURS,
                       help="flavour to build (repeatable; default: all)")
    build.add_argument("--force", action="store_true", help="rebuild even if cached")
    build.set_defaults(handler=cmd_build)

    def add_name(sub, required=True):
        sub.add_argument("--name", type=validate_fleet_name, required=required,
                         help="fleet name (a-z, 0-9, '-'; at most 20 characters)")

    def add_stop_timeout(sub):
        sub.add_argument("--stop-timeout", type=float, default=10, metavar="SECONDS",
                         help="grace period for a clean poweroff before SIGKILL (default 10)")

    up = commands.add_parser("up", help="boot a fleet and write its Ansible inventory")
    add_name(up)
    up.add_argument("--nodes", type=parse_node_specs, required=True, metavar="SPEC",
                    help="comma-separated nodes, FLAVOUR[:OPTION...] each; flavours "
                         f"{', '.join(FLAVOURS)}; options {', '.join(NODE_OPTIONS)} "
                         "(dual-stack by default). Example: bookworm,trixie:no-default-route,sid")
    up.add_argument("--timeout", type=float, default=120, metavar="SECONDS",
                    help="how long to wait for every node to boot (default 120)")
    up.add_argument("--replace", action="store_true", help="tear down a fleet of that name first")
    up.add_argument("--keep-on-failure", action="store_true",
                    help="leave a fleet that failed to come up in place for inspection")
    add_stop_timeout(up)
    up.set_defaults(handler=cmd_up)

    image = commands.add_parser(
        "image", help="power a fleet off and make an image of one node's changes (image=DIR)")
    add_name(image)
    image.add_argument("node", help="the node: n1, its hostname or its address")
    image.add_argument("--output", required=True, metavar="DIR", help="new directory for the image")
    add_stop_timeout(image)
    image.set_defaults(handler=cmd_image)

    down = commands.add_parser("down", help="stop a fleet and remove every trace of it")
    target = down.add_mutually_exclusive_group(required=True)
    target.add_argument("--name", type=validate_fleet_name, help="fleet to tear down")
    target.add_argument("--all", action="store_true", help="tear down every fleet")
    add_stop_timeout(down)
    down.set_defaults(handler=cmd_down)

    status = commands.add_parser("status", help="show nodes, addresses and boot state")
    add_name(status, required=False)
    status.set_defaults(handler=cmd_status)

    ssh = commands.add_parser("ssh", help="ssh into a node: ssh --name F n1 -- CMD...")
    add_name(ssh)
    ssh.add_argument("node", help="node: n1, 1, its hostname or its address")
    ssh.add_argument("command", nargs=argparse.REMAINDER, help="command to run (after --)")
    ssh.set_defaults(handler=cmd_ssh)

    served = commands.add_parser(
        "served-by", help="name the peers whose Spegel served a blob or manifest to a node")
    add_name(served)
    served.add_argument("node", help="the node that pulled: n1, its hostname or its address")
    served.add_argument("digest", help="the blob or manifest digest, sha256:...")
    served.add_argument("--since", type=float, required=True, metavar="EPOCH",
                        help="look at requests from this time on (seconds since the epoch)")
    served.set_defaults(handler=cmd_served_by)

    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("run as root: it mounts overlays, creates bridges and runs systemd-nspawn")
    try:
        args.handler(args)
    except FleetError as error:
        print(f"fleet: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
