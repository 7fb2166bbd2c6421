# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Host entries of a hosts.toml in Spegel's own style: checked, then rendered as text.

normalise_host checks one entry (url, capabilities, dial_timeout, ca, client, skip_verify,
override_path, header) and puts its fields in Spegel's key order; render_host writes it as
a `[host."URL"]` table, render_dotted as dotted keys. containerd 1.x (go-toml v1) cannot
read '[' or ']' in a table header and then ignores the whole file, so on 1.x a mirror URL
with brackets (an IPv6 address) is written as dotted keys under `[host]` (dotted_form).
Standard library only: the boot step of an image bake runs it on the node.
"""

from __future__ import annotations

import json
import re

from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_names import go_duration_ns, validate_host_url

# The order Spegel writes its keys in; the header table always comes last.
HOST_FIELDS = ('capabilities', 'dial_timeout', 'ca', 'client', 'skip_verify', 'override_path', 'header')
CAPABILITIES = ('pull', 'resolve', 'push')
_BARE_KEY = re.compile(r'^[A-Za-z0-9_-]+$')

# Above the [host] table made for dotted entries (_hosts_merge, the boot step); it goes when they go.
DOTTED_NOTE = "# peerpull.spegel: containerd 1.x reads no '[' or ']' in a table header, so these are dotted keys"


def _toml_string(value):
    """Spegel's style: a literal 'string' where TOML allows one, else an escaped "string"."""
    if "'" not in value and not re.search(r'[\x00-\x1f\x7f]', value):
        return "'%s'" % value
    return json.dumps(value, ensure_ascii=False).replace('\x7f', '\\u007f')


def _toml_key(key):
    return key if _BARE_KEY.match(key) else _toml_string(key)


def _toml_value(value):
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, str):
        return _toml_string(str(value))
    if isinstance(value, (list, tuple)):
        return '[%s]' % ', '.join(_toml_value(item) for item in value)
    raise SpegelError('Cannot write %r to hosts.toml.' % (value,))


def _plain(value):
    """Exact builtin types (Ansible passes tagged str/int subclasses)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    for kind in (bool, int, str):
        if isinstance(value, kind):
            return kind(value)
    return value


def normalise_host(host):
    """Check one host entry {url, capabilities, ca, client, skip_verify, header, override_path,
    dial_timeout}; returns (url, fields) with unset keys dropped, in Spegel's key order."""
    if not isinstance(host, dict) or 'url' not in host:
        raise SpegelError('A host entry is a dict with at least a url, got %r.' % (host,))
    unknown = set(host) - set(HOST_FIELDS) - {'url'}
    if unknown:
        raise SpegelError('Unknown hosts.toml host fields %s; known: url, %s.'
                          % (', '.join(sorted(unknown)), ', '.join(HOST_FIELDS)))
    url = validate_host_url(host['url'])
    fields = {}
    for name in HOST_FIELDS:
        value = host.get(name)
        if value is None:
            continue
        value = _plain(value)
        _check_field(url, name, value)
        fields[name] = value
    return url, fields


def _check_field(url, name, value):
    def fail(expected):
        # Header values may be secrets: never echo them.
        got = 'something else' if name == 'header' else repr(value)
        raise SpegelError('host %s: %s must be %s, got %s.' % (url, name, expected, got))

    def strings(item):
        return isinstance(item, list) and all(isinstance(s, str) and s for s in item)

    if name == 'capabilities':
        if not strings(value) or not value or set(value) - set(CAPABILITIES) or len(set(value)) != len(value):
            fail('a non-empty list of pull, resolve, push')
    elif name == 'dial_timeout':
        try:
            go_duration_ns(value)
        except ValueError as exc:
            fail("a Go duration such as '200ms' or '1s' (%s)" % exc)
    elif name == 'ca':
        if not (isinstance(value, str) and value) and not strings(value):
            fail('a path or a list of paths')
    elif name == 'client':
        pairs = isinstance(value, list) and all(strings(p) and len(p) == 2 for p in value)
        if not (isinstance(value, str) and value) and not strings(value) and not pairs:
            fail('a path, a list of paths, or a list of [certificate, key] pairs')
    elif name in ('skip_verify', 'override_path'):
        if not isinstance(value, bool):
            fail('true or false')
    elif name == 'header':
        if not isinstance(value, dict) or not value or not all(
                k and (isinstance(v, str) or strings(v)) for k, v in value.items()):
            fail('a dict of header names to a string or a list of strings')


def render_host(url, fields):
    """One host entry as Spegel writes it, ending with a newline."""
    lines = ["[host.%s]" % _toml_string(url)]
    lines += ['%s = %s' % (name, _toml_value(fields[name])) for name in HOST_FIELDS
              if name in fields and name != 'header']
    text = '\n'.join(lines) + '\n'
    if 'header' in fields:
        text += _render_header(url, fields['header'])
    return text


def _render_header(url, header):
    lines = ['[host.%s.header]' % _toml_string(url)]
    lines += ['%s = %s' % (_toml_key(k), _toml_value(v)) for k, v in header.items()]
    return '\n'.join(lines) + '\n'


def dotted_form(url, containerd_major):
    """Whether containerd `containerd_major` (1, 2 or None: unknown) needs the entry as dotted keys."""
    return containerd_major == 1 and ('[' in url or ']' in url)


def render_dotted(url, fields, prefix=''):
    """One host entry as dotted keys, for the [host] table (prefix '') or the root (prefix 'host.')."""
    key = prefix + _toml_string(url)
    lines = ['%s.%s = %s' % (key, name, _toml_value(fields[name])) for name in HOST_FIELDS
             if name in fields and name != 'header']
    lines += ['%s.header.%s = %s' % (key, _toml_key(k), _toml_value(v)) for k, v in fields.get('header', {}).items()]
    return '\n'.join(lines) + '\n'
