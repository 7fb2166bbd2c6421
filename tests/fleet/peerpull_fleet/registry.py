# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The fleet's one image and the registry that serves it: the test image this tool
writes and imports on the seed node, and a client of the nodes' Spegel."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.client
import io
import json
import shlex
import tarfile
import time

from .host import FleetError, run
from .nodes import ssh_command
from .rootfs import SPEGEL_PORT
from .state import Fleet, Node

TEST_IMAGE_REPOSITORY = "library/peerpull-test"
TEST_IMAGE_TAG = "1.0"
TEST_IMAGE_REF = f"docker.io/{TEST_IMAGE_REPOSITORY}:{TEST_IMAGE_TAG}"
TEST_IMAGE_FILE = ("hello.txt", b"hello from peerpull-test 1.0\n")
DOCKER_MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"


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
