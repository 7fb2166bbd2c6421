# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Registry names, hosts.toml paths, mirror URLs and the option values of a host entry.

What the user names and containerd reads as names: a registry (`_default`, or host[:port]
as in an image reference) and its hosts.toml path, the mirror URL built from a node IP or
given by the user, a registry's `server`, TCP ports, Go durations (`dial_timeout`) and the
Authorization header. Each is checked here and refused with a SpegelError naming the option
and the fix. Standard library only: the boot step of an image bake runs it on the node.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import posixpath
import re
from urllib.parse import urlsplit

from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils._node_ip import (
    address_problem, destination_problem, parse_address,
)
from ansible_collections.peerpull.spegel.plugins.plugin_utils._toml_edit import (
    REDACTED, option_type, redact_url_credentials, require_absolute,
)

DEFAULT_REGISTRY = '_default'
HOSTS_FILE = 'hosts.toml'

# Spegel's init container moves the files it replaces into _backup/; containerd never looks
# there for a registry.
NOT_A_REGISTRY = (DEFAULT_REGISTRY, '_backup')

_DNS_LABEL = re.compile(r'^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$')
# Go's time.ParseDuration: numbers with units, summed, within an int64 of nanoseconds.
_GO_DURATION_PART = re.compile(r'(\d*)(?:\.(\d*))?([^\d.]*)')
_GO_DURATION_UNITS = {'ns': 1, 'us': 10 ** 3, '\u00b5s': 10 ** 3, '\u03bcs': 10 ** 3, 'ms': 10 ** 6, 's': 10 ** 9,
                      'm': 60 * 10 ** 9, 'h': 3600 * 10 ** 9}
GO_DURATION_MAX_NS = 2 ** 63 - 1  # about 292 years
_URL_FORBIDDEN = re.compile(r'[\s\'"\\<>`{}|^]')


def _valid_port(text):
    return text.isdigit() and 1 <= int(text) <= 65535 and not (len(text) > 1 and text[0] == '0')


def port_number(value, option='port'):
    """A TCP port from an integer or a string of digits; SpegelError naming `option`
    otherwise (a boolean is no port, though Python counts True as 1)."""
    text = '' if value is None or isinstance(value, (bool, float)) else str(value).strip()
    if not _valid_port(text):
        raise SpegelError('%s: %r is not a port number from 1 to 65535; give ports such as 30020.' % (option, value))
    return int(text)


def _valid_hostname(host):
    """A DNS name, an IPv4 address, or a bracketed IPv6 address."""
    if host.startswith('[') and host.endswith(']'):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return False
        return True
    if len(host) > 253:
        return False
    return all(_DNS_LABEL.match(label) for label in host.split('.'))


def go_duration_ns(text):
    """The nanoseconds of a positive Go duration ('200ms', '1m30s', '1.5h'); ValueError saying
    why not. containerd 2.x fails to read a whole hosts.toml whose dial_timeout Go refuses, and
    then bypasses its mirrors."""
    if not isinstance(text, str) or text in ('', '0') or text[0] in '+-':
        raise ValueError('a positive Go duration has no sign and is not 0')
    total, at = 0, 0
    while at < len(text):
        match = _GO_DURATION_PART.match(text, at)
        whole, fraction, unit = match.groups()
        if not (whole or fraction) or unit not in _GO_DURATION_UNITS:
            raise ValueError('Go reads a duration as numbers with the units ns, us, ms, s, m or h')
        scale = _GO_DURATION_UNITS[unit]
        total += int(whole or 0) * scale + int(fraction or 0) * scale // 10 ** len(fraction or '')
        at = match.end()
    if total > GO_DURATION_MAX_NS:
        raise ValueError('it is longer than Go\'s longest duration, 2562047h47m16.854775807s, about 292 years')
    if total == 0:
        raise ValueError('it is zero')
    return total


def _split_host_port(hostport):
    """('host', 'port' or None); the host keeps an IPv6 address's brackets."""
    if hostport.startswith('['):
        end = hostport.find(']')
        if end == -1:
            return hostport, None
        rest = hostport[end + 1:]
        if rest.startswith(':'):
            return hostport[:end + 1], rest[1:]
        return hostport[:end + 1], (None if rest == '' else rest)
    if hostport.count(':') == 1:
        host, port = hostport.split(':')
        return host, port
    return hostport, None


def validate_registry(registry):
    """`_default`, or host[:port] as in an image reference. Returns it as a plain str."""
    registry = str(registry) if registry is not None else ''
    problem = None
    if registry == DEFAULT_REGISTRY:
        return registry
    if registry.strip() == '':
        problem = 'it is empty'
    elif registry != registry.strip() or re.search(r'\s', registry):
        problem = 'it contains whitespace'
    elif '/' in registry or '\\' in registry or registry in ('.', '..') or '..' in registry:
        problem = 'it would leave the hosts directory (a registry name holds no "/" and no "..")'
    else:
        host, port = _split_host_port(registry)
        if not _valid_hostname(host):
            problem = 'the host is not a DNS name, an IPv4 address or a bracketed IPv6 address'
        elif port is not None and not _valid_port(port):
            problem = 'the port must be a number from 1 to 65535'
    if problem:
        raise SpegelError(
            'Registry %r is not valid: %s. Use _default (all registries) or a registry host as it appears '
            'in image names, such as docker.io, ghcr.io or registry.example:5000; nothing was written.'
            % (registry, problem))
    return registry


def registry_hosts_file(hosts_dir, registry):
    """The hosts.toml path of one registry: <hosts_dir>/<registry>/hosts.toml."""
    hosts_dir = require_absolute(hosts_dir, 'hosts_dir', '/etc/containerd/certs.d')
    registry = validate_registry(registry)
    return posixpath.join(posixpath.normpath(hosts_dir), registry, HOSTS_FILE)


def default_server(registry):
    """The `server` line Spegel writes: none for _default, Docker Hub's real API host for docker.io."""
    registry = validate_registry(registry)
    if registry == DEFAULT_REGISTRY:
        return None
    if registry == 'docker.io':
        return 'https://registry-1.docker.io'
    return 'https://%s' % registry


def mirror_url(ip, port, scheme='http'):
    """The mirror URL for a node IP: http://198.18.0.5:30020, http://[fd00::5]:30020."""
    try:
        address = parse_address(ip)
    except ValueError as exc:
        raise SpegelError('%r cannot be the mirror address: %s; the mirror must point at the node\'s own IP '
                          '(set spegel_node_ip, or leave it unset to discover it).' % (ip, exc)) from None
    problem = address_problem(address)
    if problem:
        raise SpegelError('%s cannot be the mirror address: %s. Use the node\'s own IP '
                          '(set spegel_node_ip).' % (address, problem))
    port = port_number(port, 'Mirror port')
    if str(scheme) not in ('http', 'https'):
        raise SpegelError('Mirror scheme must be http or https, got %r.' % (scheme,))
    return '%s://%s:%s' % (scheme, _url_host(address), port)


def _url_host(address):
    return '[%s]' % address.compressed if address.version == 6 else address.compressed


def _url_address(host):
    """(host as the URL should carry it, problem or None): an IP address (an IPv6 one in
    brackets, an all-numeric last label) must be one a connection can go to; IPv4-mapped IPv6
    becomes the IPv4 address. A DNS name stays as it is."""
    bracketed = host.startswith('[') and host.endswith(']')
    if not bracketed and not host.rsplit('.', 1)[-1].isdigit():
        return host, None  # a DNS name (no top-level domain is all digits)
    try:
        address = parse_address(host)
    except ValueError as exc:
        if bracketed:
            return host, 'the host %s cannot be a mirror: %s' % (host, exc)
        return host, 'the host %s is not an IPv4 address, though its last label is a number' % host
    problem = destination_problem(address)
    return _url_host(address), problem and 'the host %s cannot be a mirror: %s' % (address, problem)


def validate_host_url(url):
    """A user-given mirror URL: http(s)://host[:port][/path]. Returns it normalised (lower-case
    scheme and host, no trailing slash on an empty path)."""
    text = str(url) if url is not None else ''
    shown = redact_url_credentials(text)
    problem = None
    parts = None
    if _URL_FORBIDDEN.search(text) or text == '':
        problem = 'it is empty or contains whitespace, quotes or other characters a URL cannot hold'
    elif '@' in text:
        # Before parsing: a password holding / ? or # would end the host early, and the
        # parser's own message would quote a piece of it.
        problem = 'credentials do not belong in the URL; use authorization'
        scheme, _sep, rest = text.rpartition('://')
        shown = '%s%s%s' % (scheme + '://' if scheme else '', REDACTED, rest[rest.rfind('@'):])
    else:
        try:
            parts = urlsplit(text)
            port = parts.port
        except ValueError as exc:
            problem = str(exc)
        else:
            if parts.scheme.lower() not in ('http', 'https'):
                problem = 'the scheme must be http or https'
            elif parts.query or parts.fragment or text.endswith(('?', '#')):
                problem = 'a mirror URL has no query or fragment'
            else:
                host, port_text = _split_host_port(parts.netloc)
                if '%' in host:
                    problem = _url_address(host)[1]
                elif not _valid_hostname(host):
                    problem = 'the host is not a DNS name, an IPv4 address or a bracketed IPv6 address'
                elif port_text is not None and (port is None or not _valid_port(port_text)):
                    problem = 'the port must be a number from 1 to 65535'
                else:
                    host, problem = _url_address(host)
    if problem:
        raise SpegelError('Mirror URL %r is not valid: %s. Example: http://198.18.0.5:30020.'
                          % (shown, problem))
    path = '' if parts.path == '/' else parts.path
    netloc = host.lower() + ('' if port_text is None else ':' + port_text)
    return '%s://%s%s' % (parts.scheme.lower(), netloc, path)


def validate_servers(servers, registries, option='server', registries_option='registries'):
    """{registry: URL normalised} of the `server` option: every registry one of `registries` and
    not _default, every URL a valid host URL (validate_host_url: no credentials, http or https)."""
    if servers is None or servers == '':
        return {}
    if not isinstance(servers, dict):
        raise SpegelError('%s must be a dict of registry to server URL, such as '
                          '{docker.io: https://registry-1.docker.io}; got %s.' % (option, option_type(servers)))
    checked = {}
    for registry, url in servers.items():
        registry = str(registry)
        if registry not in registries:
            raise SpegelError('%s names registry %r, which is not in %s (%s).'
                              % (option, registry, registries_option, ', '.join(registries)))
        if registry == DEFAULT_REGISTRY:
            raise SpegelError('%s: _default takes no server: it would send every registry to one host. '
                              'Name the registry instead.' % option)
        checked[registry] = validate_host_url(url)
    return checked


def _credential(item, name, option, encoding=None):
    """The username or password of an authorization dict as a string, or None. A number is taken
    as its digits (YAML reads an unquoted password: 12345 as one); messages never show a value.
    encoding json: the value is a JSON string (the AWX credential type injects it so, because
    ansible-core 2.19 reads AWX's extra vars by their look: '0123' would arrive as the number 83)."""
    if encoding == 'json' and item is not None:
        try:
            item = json.loads(item) if isinstance(item, str) else None
        except ValueError:
            item = None
        if not isinstance(item, str):
            raise SpegelError('%s: with encoding json its %s must be a JSON string such as "\\"s3cret\\"" '
                              '(the AWX credential type injects it so); fix the credential type\'s injector.'
                              % (option, name))
        return item
    if isinstance(item, int) and not isinstance(item, bool):
        return str(int(item))
    if item is not None and not isinstance(item, str):
        raise SpegelError('%s: its %s must be a string (quote it in YAML), got %s.'
                          % (option, name, option_type(item)))
    return None if item is None else str(item)


def authorization_header(value, option='authorization'):
    """The Authorization header value of `option`: a string as it is, or Basic from a dict with
    username and password; None when unset. The value is a secret: messages never show it."""
    if value is None or value == '' or value == {}:
        return None
    if isinstance(value, dict):
        unknown = sorted(str(key) for key in set(value) - {'username', 'password', 'encoding'})
        if unknown:
            raise SpegelError('%s must be a header value such as "Basic dXNlcjpwdw==" or a dict with a username '
                              'and a password (and an encoding) and no other keys; got a dict with the keys %s: '
                              'remove %s.' % (option, ', '.join(sorted(str(k) for k in value)), ', '.join(unknown)))
        encoding = value.get('encoding')
        if encoding not in (None, '', 'json'):
            raise SpegelError('%s: encoding must be json (username and password given as JSON strings) or unset, '
                              'got %r.' % (option, encoding))
        username, password = (_credential(value.get(name), name, option, encoding or None)
                              for name in ('username', 'password'))
        if not username:
            raise SpegelError('%s: its username is empty; give a dict with a username and a password, '
                              'or a header value such as "Basic dXNlcjpwdw==".' % option)
        pair = '%s:%s' % (username, password or '')
        return 'Basic ' + base64.b64encode(pair.encode('utf-8')).decode('ascii')
    if not isinstance(value, str):
        raise SpegelError('%s must be a header value such as "Basic dXNlcjpwdw==" or a dict with username and '
                          'password, got %s.' % (option, option_type(value)))
    if '\n' in value or '\r' in value or value.strip() != value:
        raise SpegelError('%s must be one line without leading or trailing spaces.' % option)
    return str(value)
