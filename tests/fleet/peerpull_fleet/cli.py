# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""fleet.py's commands."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from .host import FleetError, log
from .lifecycle import bring_up, make_image, tear_down
from .nodes import ssh_command
from .registry import served_by
from .rootfs import CACHE_ROOT, FLAVOURS, SPEGEL_PORT, build_flavours
from .state import NODE_OPTIONS, STATE_ROOT, Fleet, fleet_names, parse_node_specs, validate_fleet_name


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
