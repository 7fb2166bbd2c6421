# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""How the node's own containerd reads its hosts.toml files (controller side).

`ctr --debug content fetch-object --hosts-dir DIR REF` builds containerd's resolver from DIR
without a daemon. Run in a private network namespace it contacts nothing, every host fails at
once, and its debug log still names every host containerd would try for REF, in order
(`msg="do request" ... url=...`); a file containerd cannot read shows up as an error line, a
host it drops silently (containerd 2.x and a dotted entry) by its absence. The node_files
module runs the probes (hosts_probe); this module picks the references and reads the logs.
"""

from __future__ import annotations

import re

from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_names import DEFAULT_REGISTRY

# A registry without a directory of its own, so that _default answers for it.
PROBE_REGISTRY = 'peerpull-verify.invalid'
PROBE_REPOSITORY = 'peerpull-verify/probe'
PROBE_DIGEST = 'sha256:' + '0' * 64

_ANSI_COLOUR = re.compile(r'\x1b\[[0-9;]*m')
_FIELD = re.compile(r'([\w.-]+)=("(?:[^"\\]|\\.)*"|[^\s"]*)')
# logrus' terminal format (under a TTY): `ERRO[0000] message   key=value ...`
_TERMINAL = re.compile(r'^(TRAC|DEBU|INFO|WARN|ERRO|FATA|PANI)\[[^\]]*\]\s*(.*?)(?=\s+[\w.-]+=|\s*$)')
_ERROR_LEVELS = ('erro', 'fata', 'pani')


def probe_ref(registry, capabilities):
    """An image reference that containerd resolves through `registry`'s directory (a hosts
    directory name). By tag when the mirrors resolve tags: containerd asks only the hosts that
    can for a tag; else by digest, which every host with pull is asked for."""
    if registry == DEFAULT_REGISTRY:
        host = PROBE_REGISTRY
    else:
        # containerd's directory for host:port may be written host_port_.
        match = re.match(r'^(.+)_(\d+)_$', registry)
        host = '%s:%s' % match.groups() if match else registry
    suffix = ':probe' if 'resolve' in capabilities else '@' + PROBE_DIGEST
    return '%s/%s%s' % (host, PROBE_REPOSITORY, suffix)


def _entry(line):
    """(level cut to four letters, message, fields) of a line of logrus, in either format."""
    line = _ANSI_COLOUR.sub('', line)
    fields = {key: re.sub(r'\\(.)', r'\1', value[1:-1]) if value.startswith('"') else value
              for key, value in _FIELD.findall(line)}
    terminal = _TERMINAL.match(line)
    if terminal:
        return terminal.group(1).lower(), terminal.group(2), fields
    return fields.get('level', '')[:4], fields.get('msg', ''), fields


def read_probe(stderr):
    """(hosts, errors): the host URLs (scheme://host[:port][/path]) in the order containerd tried
    them, each once, and the errors of ctr's debug log ('message: error')."""
    hosts, errors = [], []
    for line in stderr.splitlines():
        level, message, fields = _entry(line)
        if level in _ERROR_LEVELS:
            errors.append(': '.join(part for part in (message, fields.get('error')) if part) or line)
        elif message == 'do request' and 'url' in fields:
            host = fields['url'].split('/' + PROBE_REPOSITORY + '/')[0]
            host = host[:-len('/v2')] if host.endswith('/v2') else host
            if host not in hosts:
                hosts.append(host)
    return hosts, errors


def judge_probe(path, stderr, mirrors):
    """(hosts, problem): problem is None when containerd tries `mirrors` first, in this order,
    else a sentence that names the file."""
    hosts, errors = read_probe(stderr)
    if errors:
        return hosts, 'containerd reports an error for %s (%s), so it ignores the file' % (path, errors[0])
    if hosts[:len(mirrors)] != list(mirrors):
        lines = stderr.strip().splitlines()
        tried = ', '.join(hosts) if hosts else 'no host (%s)' % (lines[-1] if lines else 'no output')
        return hosts, ('containerd does not read %s as written: it would try %s, not the Spegel mirrors %s first'
                       % (path, tried, ', '.join(mirrors)))
    return hosts, None
