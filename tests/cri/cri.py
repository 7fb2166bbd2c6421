# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A small client of the Kubernetes CRI API (runtime.v1), as kubelet speaks it to containerd.

The tests use it to prove what the collection is for: that a node's own containerd,
asked through CRI exactly as kubelet would ask it, pulls an image through the mirror.

The proto is the one Debian ships in `golang-github-kubernetes-cri-api-dev`
(runtime.v1, which containerd 1.6 to 2.x serve), downloaded by apt (tests/sources/debian.py);
Python stubs are generated with grpc_tools.protoc into a cache outside the repo:

  ${PEERPULL_CACHE:-/var/cache/peerpull}/cri/<deb version>-protoc<grpcio-tools version>/
      cri_api.proto  cri_api_pb2.py  cri_api_pb2_grpc.py  fetched.json

The fleet's nodes have no grpcio; the client runs on the host and reaches a node's
socket through its init process: /proc/<leader pid>/root/run/containerd/containerd.sock.

Usage (as root), with --socket PATH or, for a node of a tests/fleet fleet, --fleet NAME --node N:
  python tests/cri/cri.py --fleet demo --node n1 status
  python tests/cri/cri.py --fleet demo --node n1 pull docker.io/library/peerpull-test:1.0  (as kubelet: retried)
  python tests/cri/cri.py --socket PATH image-status REF
  python tests/cri/cri.py --socket PATH remove REF
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "sources"))
# apt is the tests' one way to Debian's packages.
from debian import PackageError, cache_root as peerpull_cache, download, extract, locked, version_of  # noqa: E402,E501  pylint: disable=wrong-import-position

# trixie's cri-api (0.32) is runtime.v1 only; every containerd 1.6-2.x serves that.
PROTO_SUITE = "trixie"
PROTO_PACKAGE = "golang-github-kubernetes-cri-api-dev"
PROTO_MEMBER = "usr/share/gocode/src/k8s.io/cri-api/pkg/apis/runtime/v1/api.proto"
STUB_NAME = "cri_api"
CONTAINERD_SOCKET = "/run/containerd/containerd.sock"
RPC_TIMEOUT = 120  # seconds; a pull of the small test image takes well under one
# Spegel 0.7.3's lookups in its DHT miss now and then on the test fleet (a busy two-core
# host; peers that restarted with containerd); kubelet retries a failed pull (back-off
# from 10 s), and so do the tests, with a shorter back-off. They report every retry.
PULL_ATTEMPTS = 5
PULL_BACK_OFF = 5.0  # seconds


class CriError(RuntimeError):
    pass


def node_socket(leader_pid: int | str) -> str:
    """A node's containerd socket as the host sees it, through the node's root."""
    return f"/proc/{int(leader_pid)}/root{CONTAINERD_SOCKET}"


def cache_root() -> Path:
    return peerpull_cache() / "cri"


def load_stubs():
    """(messages, services): the generated modules, built into the cache if missing."""
    version = importlib.metadata.version("grpcio-tools")  # the stubs must match its protoc
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with locked(root):
        built = next(
            (d for d in sorted(root.glob(f"*-protoc{version}")) if (d / f"{STUB_NAME}_pb2_grpc.py").is_file()),
            None,
        )
        if built is None:
            built = _build_stubs(root, version)
    if str(built) not in sys.path:
        sys.path.insert(0, str(built))
    return importlib.import_module(f"{STUB_NAME}_pb2"), importlib.import_module(f"{STUB_NAME}_pb2_grpc")


def _build_stubs(root: Path, protoc_version: str) -> Path:
    deb = download(PROTO_PACKAGE, PROTO_SUITE)
    deb_version = version_of(deb)
    target = root / f"{deb_version}-protoc{protoc_version}"
    staging = Path(tempfile.mkdtemp(prefix=".cri-", dir=root))
    try:
        staging.chmod(0o755)
        proto = staging / f"{STUB_NAME}.proto"
        extract(deb, {PROTO_MEMBER: proto})
        proto.write_text(_without_gogoproto(proto.read_text()))
        _protoc(staging, proto)
        (staging / "fetched.json").write_text(json.dumps(
            {"suite": PROTO_SUITE, "deb": deb.name, "deb_version": deb_version,
             "member": PROTO_MEMBER, "grpcio_tools": protoc_version}, indent=2) + "\n")
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _without_gogoproto(proto: str) -> str:
    """Drop the gogoproto import and its file options: Go code-generation hints only,
    they do not change a single field or the wire format."""
    kept = [line for line in proto.splitlines() if "gogoproto" not in line]
    if re.search(r"\[\s*\(gogoproto", proto) or len(kept) == len(proto.splitlines()):
        # Field-level gogo options (or none at all) mean the proto changed shape: look again.
        raise PackageError("unexpected gogoproto usage in the CRI proto; update _without_gogoproto")
    return "\n".join(kept) + "\n"


def _protoc(directory: Path, proto: Path) -> None:
    result = subprocess.run(
        [
            sys.executable, "-m", "grpc_tools.protoc",
            f"-I{directory}",
            f"--python_out={directory}",
            f"--grpc_python_out={directory}",
            str(proto),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise PackageError(f"grpc_tools.protoc failed on {proto}:\n{result.stderr}")


class CriClient:
    """RuntimeService and ImageService of one containerd, over its unix socket."""

    def __init__(self, socket_path: str | os.PathLike):
        import grpc  # pylint: disable=import-outside-toplevel

        self._grpc = grpc
        self.socket_path = str(socket_path)
        self.messages, services = load_stubs()
        self._channel = grpc.insecure_channel(f"unix://{self.socket_path}")
        self._runtime = services.RuntimeServiceStub(self._channel)
        self._images = services.ImageServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, method, request):
        try:
            return method(request, timeout=RPC_TIMEOUT)
        except self._grpc.RpcError as exc:
            raise CriError(f"{self.socket_path}: {exc.code().name}: {exc.details()}") from exc

    def version(self) -> dict:
        reply = self._call(self._runtime.Version, self.messages.VersionRequest(version="v1"))
        return {"runtime_name": reply.runtime_name, "runtime_version": reply.runtime_version,
                "runtime_api_version": reply.runtime_api_version}

    def status(self) -> dict[str, bool]:
        """The runtime's conditions, e.g. {"RuntimeReady": True, "NetworkReady": False}.

        NetworkReady needs a CNI config, which the test nodes do not have: image pulls
        do not need it, and kubelet only looks at it for pods."""
        reply = self._call(self._runtime.Status, self.messages.StatusRequest())
        return {c.type: c.status for c in reply.status.conditions}

    def pull_image(self, image: str) -> str:
        """Pull through the runtime (its registry hosts config applies); returns the image ref."""
        request = self.messages.PullImageRequest(image=self.messages.ImageSpec(image=image))
        return self._call(self._images.PullImage, request).image_ref

    def pull_image_as_kubelet(self, image: str, attempts: int = PULL_ATTEMPTS,
                              back_off: float = PULL_BACK_OFF) -> list[str | None]:
        """Pull as kubelet does: a failed pull is tried again after a back-off, up to
        `attempts` in all. One entry per attempt: its error, or None for the pull that
        succeeded (the last)."""
        outcomes: list[str | None] = []
        while len(outcomes) < attempts and None not in outcomes:
            if outcomes:
                time.sleep(back_off)
            try:
                self.pull_image(image)
                outcomes.append(None)
            except CriError as error:
                outcomes.append(str(error))
        return outcomes

    def image_status(self, image: str) -> dict | None:
        """None when the runtime does not have the image."""
        request = self.messages.ImageStatusRequest(image=self.messages.ImageSpec(image=image))
        found = self._call(self._images.ImageStatus, request).image
        if not found.id:
            return None
        return {"id": found.id, "repo_tags": list(found.repo_tags),
                "repo_digests": list(found.repo_digests), "size": found.size}

    def remove_image(self, image: str) -> None:
        """Idempotent: removing an absent image is not an error."""
        request = self.messages.RemoveImageRequest(image=self.messages.ImageSpec(image=image))
        self._call(self._images.RemoveImage, request)


def fleet_node_socket(fleet_name: str, node_name: str) -> str:
    """The socket of a running node of a tests/fleet fleet (n1, its hostname or address)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fleet"))
    from peerpull_fleet import Fleet, FleetError  # pylint: disable=import-outside-toplevel

    try:
        node = Fleet.load(fleet_name).find_node(node_name)
    except FleetError as exc:
        raise CriError(str(exc)) from None
    if not node.leader.alive():
        raise CriError(f"node {node.hostname} of fleet {fleet_name} is not running")
    return node_socket(node.leader_pid)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket", default=CONTAINERD_SOCKET, help="containerd socket path (default: %(default)s)")
    parser.add_argument("--fleet", help="a tests/fleet fleet: talk to its node --node instead of --socket")
    parser.add_argument("--node", help="node of --fleet: n1, its hostname or its address")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("status", help="runtime version and conditions")
    for name in ("pull", "image-status", "remove"):
        commands.add_parser(name).add_argument("image")
    args = parser.parse_args()
    if bool(args.fleet) != bool(args.node):
        parser.error("--fleet and --node go together")
    try:
        socket_path = fleet_node_socket(args.fleet, args.node) if args.fleet else args.socket
        with CriClient(socket_path) as client:
            if args.command == "status":
                result = {**client.version(), "conditions": client.status()}
            elif args.command == "pull":  # as kubelet pulls: retried after a failure
                attempts = client.pull_image_as_kubelet(args.image)
                if None not in attempts:
                    raise CriError(f"every pull failed: {attempts}")
                result = {"image_ref": client.image_status(args.image)["id"], "failed_attempts": attempts[:-1]}
            elif args.command == "image-status":
                result = client.image_status(args.image)
            else:
                client.remove_image(args.image)
                result = {"removed": args.image}
    except (CriError, PackageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
