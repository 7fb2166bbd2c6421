# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Stale entries of a former node IP, and registry directories that hide _default.

Entries of a former node IP (stale_mirrors: exactly the shape the roles write, on another
IP, left behind when an image baked on another machine boots), to be pruned; and registry
directories under the hosts directory that hide _default from their registry (a hosts.toml
of their own: shadowing_files, or none at all: dirs_without_hosts_file), to be reported.
"""

from __future__ import annotations

import glob
import ipaddress
import posixpath
from urllib.parse import urlsplit

from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_names import HOSTS_FILE, NOT_A_REGISTRY, mirror_url
from ansible_collections.peerpull.spegel.plugins.plugin_utils._toml_edit import parse_plain


# --- entries of a former node IP -------------------------------------------------------------

def stale_mirrors(existing_text, source, ports, capabilities, node_ips):
    """URLs of the entries that look exactly like the ones the roles build from a node IP
    but name another IP: `http://IP:PORT` as mirror_url writes it, PORT one of `ports`, the
    given capabilities, and nothing else but dial_timeout and header. Left behind when a
    node's IP changes (an image baked on another machine); nothing else is ever matched."""
    if not existing_text:
        return []
    hosts = parse_plain(existing_text, source).get('host', {})
    own = {ipaddress.ip_address(ip) for ip in node_ips}
    stale = []
    for url, fields in (hosts.items() if isinstance(hosts, dict) else ()):
        if not isinstance(fields, dict) or set(fields) - {'capabilities', 'dial_timeout', 'header'}:
            continue
        if fields.get('capabilities') != list(capabilities):
            continue
        parts = urlsplit(url)
        try:
            address = ipaddress.ip_address(parts.hostname or '')
            port = parts.port
        except ValueError:
            continue
        if address in own or port not in ports:
            continue
        try:
            if mirror_url(address, port) == url:
                stale.append(url)
        except SpegelError:
            continue
    return stale


# --- registry directories that shadow _default ----------------------------------------------

def shadowing_glob(hosts_dir):
    """The read glob that finds every registry directory's hosts.toml under hosts_dir."""
    return posixpath.join(glob.escape(posixpath.normpath(str(hosts_dir))), '*', HOSTS_FILE)


def shadowing_files(matches, listed_paths):
    """{directory name: hosts.toml path} of the matches that are neither _default, _backup nor
    a file already in listed_paths. containerd takes the first of <host>_<port>_, <host:port>
    and _default that exists as a directory, so each of these hides _default from its registry."""
    found = {}
    for path in matches:
        name = posixpath.basename(posixpath.dirname(path))
        if name not in NOT_A_REGISTRY and path not in listed_paths:
            found[name] = path
    return found


def dirs_without_hosts_file(hosts_dir, directories, matches):
    """The registry directories (names of directories under hosts_dir) without a hosts.toml
    among the matches of shadowing_glob, as paths. containerd takes such a directory over
    _default all the same (Docker-style certificate files, or nothing), so its registry's
    pulls never reach the mirrors of _default."""
    with_file = {posixpath.basename(posixpath.dirname(path)) for path in matches}
    return [posixpath.join(hosts_dir, name) for name in directories
            if name not in NOT_A_REGISTRY and name not in with_file and not name.startswith('.')]
