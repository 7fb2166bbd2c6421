# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""containerd registry hosts.toml files: names, mirror URLs, and merges that keep the user's entries.

containerd tries the `[host."URL"]` entries of a hosts.toml in file order, so where an entry
sits matters as much as what it says. New entries are spliced into the text in Spegel's own
style; entries that already exist are edited in place with TomlEditor. Every result is
re-parsed and must hold exactly the intended data, in the host order containerd will use,
before it is returned.

containerd 1.x (go-toml v1) cannot read '[' or ']' in a table header and then ignores the
whole file; containerd 2.x lists only the hosts that have a table header. So on 1.x a mirror
URL with brackets (an IPv6 address) is written as dotted keys under `[host]`
(`'http://[fd00::5]:30020'.capabilities = [...]`), and as a table everywhere else.
"""

from __future__ import annotations

import base64
import bisect
import glob
import ipaddress
import json
import posixpath
import re
from urllib.parse import urlsplit

try:
    import tomllib
except ImportError:  # Python < 3.11: the boot step of an image bake renders, it parses no TOML
    tomllib = None

from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils._node_ip import (
    address_problem, destination_problem, parse_address,
)
from ansible_collections.peerpull.spegel.plugins.plugin_utils._toml_edit import (
    TomlEditor, option_type, parse_plain, redact_secrets, require_absolute, same_value,
)

DEFAULT_REGISTRY = '_default'
HOSTS_FILE = 'hosts.toml'

# The order Spegel writes its keys in; the header table always comes last.
HOST_FIELDS = ('capabilities', 'dial_timeout', 'ca', 'client', 'skip_verify', 'override_path', 'header')
CAPABILITIES = ('pull', 'resolve', 'push')

_DNS_LABEL = re.compile(r'^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$')
# Go's time.ParseDuration: numbers with units, summed, within an int64 of nanoseconds.
_GO_DURATION_PART = re.compile(r'(\d*)(?:\.(\d*))?([^\d.]*)')
_GO_DURATION_UNITS = {'ns': 1, 'us': 10 ** 3, '\u00b5s': 10 ** 3, '\u03bcs': 10 ** 3, 'ms': 10 ** 6, 's': 10 ** 9,
                      'm': 60 * 10 ** 9, 'h': 3600 * 10 ** 9}
GO_DURATION_MAX_NS = 2 ** 63 - 1  # about 292 years
_BARE_KEY = re.compile(r'^[A-Za-z0-9_-]+$')
_URL_FORBIDDEN = re.compile(r'[\s\'"\\<>`{}|^]')

# Above the [host] table this module makes for dotted entries; it goes when they go.
DOTTED_NOTE = "# peerpull.spegel: containerd 1.x reads no '[' or ']' in a table header, so these are dotted keys"


# --- names and URLs -----------------------------------------------------------------------

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
    problem = None
    parts = None
    if _URL_FORBIDDEN.search(text) or text == '':
        problem = 'it is empty or contains whitespace, quotes or other characters a URL cannot hold'
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
            elif '@' in parts.netloc:
                problem = 'credentials do not belong in the URL; use authorization'
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
        raise SpegelError('Mirror URL %r is not valid: %s. Example: http://198.18.0.5:30020.' % (text, problem))
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


def _credential(item, name, option):
    """The username or password of an authorization dict as a string, or None. A number is taken
    as its digits (YAML reads an unquoted password: 12345 as one); messages never show a value."""
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
        unknown = sorted(str(key) for key in set(value) - {'username', 'password'})
        if unknown:
            raise SpegelError('%s must be a header value such as "Basic dXNlcjpwdw==" or a dict with a username '
                              'and a password and no other keys; got a dict with the keys %s: remove %s.'
                              % (option, ', '.join(sorted(str(k) for k in value)), ', '.join(unknown)))
        username, password = (_credential(value.get(name), name, option) for name in ('username', 'password'))
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


# --- rendering ----------------------------------------------------------------------------

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


# --- the text's table layout --------------------------------------------------------------

class _Block:
    """One table header line and the lines up to the next header (comments directly above a
    header belong to that header, so an entry moves and disappears with its comment)."""

    def __init__(self, path, lead, header, end):
        self.path, self.lead, self.header, self.end = path, lead, header, end

    def host(self):
        """The host URL this table belongs to, or None."""
        if len(self.path) >= 2 and self.path[0] == 'host':
            return self.path[1]
        return None


def _header_path(line):
    """Key segments of a `[table]` header line, or None for anything else."""
    stripped = line.strip()
    if not stripped.startswith('[') or stripped.startswith('[['):
        return None
    try:
        node = tomllib.loads(stripped)
    except tomllib.TOMLDecodeError:
        return None
    path = []
    while isinstance(node, dict) and len(node) == 1:
        key = next(iter(node))
        path.append(key)
        node = node[key]
    return path or None


def _blocks(lines):
    """The text's tables in file order. A line inside a multi-line string that looks like a
    header would be taken for one; the re-parse check after every splice catches that."""
    headers = []
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith('[['):
            headers.append((index, ['[[array]]']))
            continue
        path = _header_path(line)
        if path:
            headers.append((index, path))
    blocks = []
    for index, path in headers:
        lead = index
        while lead > 0 and lines[lead - 1].lstrip().startswith('#'):
            lead -= 1
        if blocks and lead < blocks[-1].header + 1:
            lead = blocks[-1].header + 1
        blocks.append(_Block(path, lead, index, None))
    for number, block in enumerate(blocks):
        block.end = blocks[number + 1].lead if number + 1 < len(blocks) else len(lines)
    return blocks


def _cut_table(text, path):
    """The text without the `[path]` table's header and keys; the blank lines and comments
    after them stay. Unchanged when the table is not written as its own header."""
    lines = text.splitlines(keepends=True)
    for block in reversed(_blocks(lines)):
        if block.path == path:
            last = block.end
            while last > block.header + 1 and lines[last - 1].strip() == '':
                last -= 1
            del lines[block.header:last]
    return ''.join(lines)


def _host_order(model):
    hosts = model.get('host', {})
    return list(hosts) if isinstance(hosts, dict) else []


class _Statement:
    """One top-level statement of a valid TOML text: a `[table]` or `[[array]]` header, or a
    `key = value` pair (in the table `section`), on the lines first to end (exclusive)."""

    def __init__(self, kind, raw_key, section, key, first, end, inline):
        self.kind, self.raw_key, self.section, self.key = kind, raw_key, section, key
        self.first, self.end, self.inline = first, end, inline

    @property
    def path(self):
        return self.section + self.key

    def host(self):
        """The host URL this statement belongs to, or None."""
        path = self.path
        return path[1] if len(path) >= 2 and path[0] == 'host' else None

    def outside_host_table(self):
        """Whether this is a dotted key or an inline table of a host, not a key in its table."""
        return self.kind == 'pair' and len(self.section) < 2 and self.host() is not None


def _statements(text):
    """The top-level statements of a text that tomllib accepts, in file order."""
    line_starts = [0] + [m.end() for m in re.finditer('\n', text)]

    def line_of(position):
        return bisect.bisect_right(line_starts, position) - 1

    statements, section, at = [], [], 0
    while at < len(text):
        char = text[at]
        if char in ' \t\r\n':
            at += 1
            continue
        if char == '#':
            at = _after_line(text, at)
            continue
        start, inline = at, False
        if char == '[':
            kind = 'array' if text.startswith('[[', at) else 'table'
            width = 2 if kind == 'array' else 1
            close = _key_end(text, at + width, ']')
            raw_key = text[at + width:close]
            section = _key_path(raw_key)
            statement_section, key, at = [], section, close + width
        else:
            kind = 'pair'
            equals = _key_end(text, at, '=')
            raw_key = text[at:equals]
            statement_section, key = section, _key_path(raw_key)
            at = equals + 1
            while text[at] in ' \t':
                at += 1
            inline = text[at] == '{'
            at = _value_end(text, at)
        at = _after_line(text, at)
        statements.append(_Statement(kind, raw_key.strip(), statement_section, key,
                                     line_of(start), line_of(at - 1) + 1, inline))
    return statements


def _after_line(text, at):
    end = text.find('\n', at)
    return len(text) if end == -1 else end + 1


def _string_end(text, at):
    """The index after the string that starts at `at` (any of TOML's four kinds)."""
    quote = text[at]
    if text.startswith(quote * 3, at):
        end = at + 3
        while not text.startswith(quote * 3, end):
            end += 2 if quote == '"' and text[end] == '\\' else 1
        run = 3
        while run < 5 and end + run < len(text) and text[end + run] == quote:
            run += 1
        return end + run
    end = at + 1
    while text[end] != quote:
        end += 2 if quote == '"' and text[end] == '\\' else 1
    return end + 1


def _key_end(text, at, terminator):
    while text[at] != terminator:
        at = _string_end(text, at) if text[at] in '"\'' else at + 1
    return at


def _value_end(text, at):
    """The index where the value starting at `at` ends (its line's newline, or a comment)."""
    depth = 0
    while at < len(text):
        char = text[at]
        if char in '"\'':
            at = _string_end(text, at)
            continue
        if char == '#' and depth == 0 or char == '\n' and depth == 0:
            return at
        if char == '#':
            at = _after_line(text, at)
            continue
        depth += 1 if char in '[{' else -1 if char in ']}' else 0
        at += 1
    return at


def _key_path(raw_key):
    node, path = tomllib.loads(raw_key + ' = 0'), []
    while isinstance(node, dict):
        key = next(iter(node))
        path.append(key)
        node = node[key]
    return path


# --- how containerd reads the hosts ---------------------------------------------------------------

def _bracketed_header(statements):
    """The first table header containerd 1.x cannot read (it then ignores the whole file)."""
    return next((s for s in statements if s.kind != 'pair' and ('[' in s.raw_key or ']' in s.raw_key)), None)


def containerd1_unreadable(text):
    """The first key of a valid TOML text that containerd 1.x's parser (go-toml v1) rejects, as
    written, or None: a table header with "[" or "]" in a key, or a key with an escaped double quote."""
    statements = _statements(text)
    found = _bracketed_header(statements) or next((s for s in statements if '\\"' in s.raw_key), None)
    return None if found is None else ('[%s]' % found.raw_key if found.kind != 'pair' else found.raw_key)


def _containerd_listing(statements, hosts, containerd_major):
    """[(rank, url)] of the hosts in the order containerd tries them; equal ranks have no fixed order.

    1.x sorts the host tables by the line they start on; an inline table has line 0.
    2.x lists the hosts of the `[host.URL...]` headers, in file order, and drops the others.
    """
    if containerd_major == 1:
        lines = {}
        for statement in statements:
            if statement.kind == 'table' and statement.host() is not None or \
                    statement.outside_host_table() and not statement.inline:
                lines.setdefault(statement.host(), statement.first + 1)
        return sorted((lines.get(url, 0), url) for url in hosts)
    listed = []
    for statement in statements:
        if statement.kind == 'table' and statement.host() is not None and statement.host() not in listed:
            listed.append(statement.host())
    return list(enumerate(listed))


def _check_containerd_order(text, source, intended, urls, containerd_major):
    """Refuse a text in which containerd would not try the hosts in the intended order.
    Unknown version: judged as 2.x reads it, and as 1.x does where 1.x can read it at all."""
    statements = _statements(text)
    bracketed = _bracketed_header(statements)
    if containerd_major is not None:
        majors = [containerd_major]
    else:
        majors = [2] if bracketed else [1, 2]
    for major in majors:
        if major == 1 and bracketed:
            raise SpegelError(
                'Refusing to write %s: containerd 1.x would ignore the whole file, because its table header '
                '[%s] holds "[" or "]", which containerd 1.x\'s TOML parser rejects. Write that host as dotted keys '
                'under [host] (\'URL\'.capabilities = [...]); nothing was changed.' % (source, bracketed.raw_key))
        listing = _containerd_listing(statements, intended, major)
        listed = [url for _rank, url in listing]
        ranks = [rank for rank, _url in listing]
        if listed != [url for url in intended if url in listed] or len(set(ranks)) != len(ranks) \
                or not set(urls) <= set(listed):
            raise SpegelError(
                'Refusing to write %s: containerd %d.x would try its hosts in the order %s, not %s (1.x takes them '
                'in the order of the line each starts on, inline tables first in no fixed order; 2.x takes only '
                '[host."URL"] tables); nothing was changed. Edit the file by hand.'
                % (source, major, ', '.join(listed) or 'none', ', '.join(intended)))


def _verify(text, source, expected_model, expected_order=None):
    try:
        reparsed = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpegelError('Refusing to write %s: the merged text is not valid TOML (%s); nothing was '
                          'changed. Report the file shape.' % (source, exc)) from None
    if not same_value(reparsed, expected_model) or (expected_order is not None
                                                    and _host_order(reparsed) != expected_order):
        raise SpegelError('Refusing to write %s: the merged text does not hold exactly the intended '
                          'hosts in the intended order (an unusual file shape, such as hosts defined '
                          'inline); nothing was changed. Edit the file by hand.' % source)
    return text


def _ensure_trailing_newline(text):
    if text == '' or text.endswith('\n'):
        return text
    return text + _newline(text)


def _newline(text):
    return '\r\n' if '\r\n' in text else '\n'


# --- merge and unmerge --------------------------------------------------------------------

def merge_registry(existing_text, source, registry, server, hosts, position='first', replace_server=False,
                   containerd_major=None):
    """The hosts.toml text with `hosts` merged into what the file already holds.

    - An entry whose URL is already in the file as a table is edited in place (TomlEditor:
      comments, quoting and position stay); its fields become exactly the given ones.
    - A new entry is written in Spegel's style right after the previous given host when that
      one is in the file, else before the first existing host (position='first') or after the
      last (position='last'). containerd tries hosts in file order.
    - On containerd 1.x (containerd_major=1) entries with '[' or ']' in the URL are written
      as dotted keys (see the module docstring), into the file's [host] table or root-level
      `host.` keys where it has them, else into a [host] table of their own; they are written
      afresh on every call, and an entry of the given URLs in the other form is rewritten.
    - `server` is written into a new (empty) file, as Spegel writes it. A file that exists
      keeps its own `server` line or its lack of one (containerd then falls back to the
      registry itself, as it would have before), so that unmerge_registry gives the user's
      file back byte for byte; replace_server=True sets `server` anyway.
    - Everything else (other hosts, certificates, comments) is kept. Idempotent.
    - The result must hold exactly the intended data and give the intended host order to
      containerd `containerd_major` (None: unknown), else the file is refused.
    """
    if position not in ('first', 'last'):
        raise SpegelError("position must be 'first' or 'last', got %r." % (position,))
    validate_registry(registry)
    entries = [normalise_host(host) for host in hosts]
    urls = [url for url, _fields in entries]
    if len(set(urls)) != len(urls):
        raise SpegelError('%s: the same mirror URL is given twice: %s.' % (source, ', '.join(urls)))
    if server is not None:
        server = validate_host_url(server)
    existing_text = existing_text or ''
    model = parse_plain(existing_text, source)
    if 'host' in model and not isinstance(model['host'], dict):
        raise SpegelError('%s: "host" is not a table; fix the file by hand (nothing was changed).' % source)
    for url in urls:
        if not isinstance(model.get('host', {}).get(url, {}), dict):
            raise SpegelError('%s: host %s is not a table; fix the file by hand.' % (source, url))
    text = existing_text
    if existing_text.strip() == '':
        text = ("server = %s\n\n" % _toml_string(server)) if server else ''

    statements = _statements(text)
    if any(s.kind == 'pair' and s.path == ['host'] for s in statements):
        raise SpegelError('Refusing to write %s: its hosts are one inline table (host = {...}), which takes no '
                          'more entries; nothing was changed. Write them as [host."URL"] tables.' % source)

    # 1. Cut out the dotted entries, and ours written other than as a table (dotted keys or an
    # inline table): they are written afresh below.
    dotted = [(url, fields) for url, fields in entries if dotted_form(url, containerd_major)]
    places = [urls.index(url) for url, _fields in dotted]
    if places and places[-1] - places[0] != len(places) - 1:
        raise SpegelError('%s: containerd 1.x gets the mirrors with "[" or "]" in their URL (IPv6 addresses) as '
                          'dotted keys in one place, so they must follow each other in the list, got %s.'
                          % (source, ', '.join(urls)))
    outside = {s.host() for s in statements if s.outside_host_table()}
    rewrite = [url for url in urls if url in model.get('host', {}) and (url in outside or url in dict(dotted))]
    if rewrite:
        text = _cut_entries(text, rewrite)[0]
    tables = [(url, fields) for url, fields in entries if url not in dict(dotted)]

    # 2. Edit the tables that exist, in place. A header table that goes away is cut out as
    # text: tomlkit would take the comments and blank lines that follow it along.
    current_hosts = parse_plain(text, source).get('host', {})
    for url, fields in tables:
        current = current_hosts.get(url)
        if current and 'header' in current and 'header' not in fields:
            text = _cut_table(text, ['host', url, 'header'])
    editor = TomlEditor(text, source)
    if server is not None and replace_server:
        editor.set(['server'], server)
    # A header table new to an entry that has its own header line is spliced in as text, right
    # after that entry's keys: tomlkit would put it after the comments that lead the next table.
    new_headers = []
    for url, fields in tables:
        current = editor.get(['host', url])
        if current is None:
            continue
        if 'header' in fields and 'header' not in current and _host_blocks(text, url):
            new_headers.append(url)
        for name in HOST_FIELDS:
            if name == 'header' and url in new_headers:
                continue
            if name == 'header' and name in fields and isinstance(current.get(name), dict):
                # Key by key, so the table keeps its place and its comments.
                for key in list(current[name]):
                    if key not in fields[name]:
                        editor.remove(['host', url, name, key])
                for key, value in fields[name].items():
                    editor.set(['host', url, name, key], value)
            elif name in fields:
                editor.set(['host', url, name], fields[name])
            elif name in current:
                editor.remove(['host', url, name])
    text = editor.render()
    expected_model = editor.model
    for url in new_headers:
        text = _append_to_host(text, url, _render_header(url, dict(entries)[url]['header']))

    # 3. Splice in the new tables, in order, next to the given hosts that already exist, then
    # the dotted entries, together, after the table given before the first of them.
    order = _host_order(expected_model)
    anchor = None
    for url, fields in tables:
        if url in order:
            anchor = url
            continue
        text = _insert_block(text, render_host(url, fields), anchor, position)
        order.insert(_order_index(order, anchor, position), url)
        anchor = url
    if dotted:
        before = urls[:urls.index(dotted[0][0])]
        anchor = before[-1] if before else None
        text = _insert_dotted(text, dotted, anchor, position)
        at = _order_index(order, anchor, position)
        order[at:at] = [url for url, _fields in dotted]
    expected_model['host'] = dict(expected_model.get('host', {}), **dict(entries))
    _verify(text, source, expected_model)
    _check_containerd_order(text, source, order, urls, containerd_major)
    return text


def _order_index(order, anchor, position):
    """Where a new entry goes in the host order: after the anchor, else first or last."""
    if anchor is not None:
        return order.index(anchor) + 1
    return 0 if position == 'first' else len(order)


def _host_blocks(text, url):
    return [b for b in _blocks(text.splitlines(keepends=True)) if b.host() == url]


def _append_to_host(text, url, piece):
    """The text with piece inserted after the last key line of the host's last table."""
    lines = _ensure_trailing_newline(text).splitlines(keepends=True)
    last = _host_blocks(text, url)[-1]
    at = last.end
    while at > last.header + 1 and lines[at - 1].strip() == '':
        at -= 1
    lines.insert(at, piece.replace('\n', _newline(text)))
    return ''.join(lines)


def _insert_block(text, block_text, anchor, position):
    """Splice a table (with its header) into the text: after the anchor host's tables, else
    before the first table of `host` (position='first') or at the end."""
    lines = _ensure_trailing_newline(text).splitlines(keepends=True)
    blocks = _blocks(lines)
    newline = _newline(text)
    host_blocks = [b for b in blocks if b.path[0] == 'host']
    if anchor is not None:
        at = [b for b in blocks if b.host() == anchor][-1].end
    elif position == 'first' and host_blocks:
        at = host_blocks[0].lead
    else:
        at = len(lines)
    before, after = ''.join(lines[:at]), ''.join(lines[at:])
    block_text = block_text.replace('\n', newline)
    if after.strip():
        # Before an existing table: our entry and a blank line, nothing else, so that
        # unmerge_registry cuts out exactly what was added.
        piece = block_text + newline
    elif before.strip() and not before.endswith(newline * 2):
        piece = newline + block_text
    else:
        piece = block_text
    return before + piece + after


def _insert_dotted(text, entries, anchor, position):
    """Splice dotted entries in: before the file's root-level `host.` keys, or at the top of its
    [host] table, or as a [host] table of their own placed as _insert_block places a table."""
    lines = _ensure_trailing_newline(text).splitlines(keepends=True)
    statements = _statements(''.join(lines))
    newline = _newline(text)
    root_keys = [s for s in statements if s.kind == 'pair' and not s.section and s.key[0] == 'host']
    host_table = next((s for s in statements if s.kind == 'table' and s.key == ['host']), None)
    if root_keys:
        at, prefix = _with_comments(lines, statements, root_keys[0]), 'host.'
    elif host_table:
        at, prefix = host_table.end, ''
    else:
        body = ''.join(render_dotted(url, fields) for url, fields in entries)
        return _insert_block(text, DOTTED_NOTE + '\n[host]\n' + body, anchor, position)
    piece = ''.join(render_dotted(url, fields, prefix) for url, fields in entries).replace('\n', newline)
    return ''.join(lines[:at]) + piece + ''.join(lines[at:])


def _with_comments(lines, statements, statement):
    """The first line of a statement with the comment lines directly above it."""
    taken = {line for s in statements for line in range(s.first, s.end)}
    first = statement.first
    while first > 0 and first - 1 not in taken and lines[first - 1].lstrip().startswith('#'):
        first -= 1
    return first


def _cut_entries(text, urls):
    """(text without the entries of urls, the urls found). Tables go with the comments directly
    above them and the blank lines after them, dotted keys with the comments directly above
    them, and a [host] table this module made for dotted keys when nothing else is left in it."""
    lines = text.splitlines(keepends=True)
    statements = _statements(text)
    blocks = _blocks(lines)
    doomed, found = set(), set()
    for statement in statements:
        if statement.outside_host_table() and statement.host() in urls:
            doomed.update(range(_with_comments(lines, statements, statement), statement.end))
            found.add(statement.host())
    doomed_blocks = [b for b in blocks if b.host() in urls]
    doomed_blocks += [b for b in blocks if b.path == ['host'] and _is_dotted_table(lines, b, doomed)]
    for block in doomed_blocks:
        doomed.update(range(block.lead, block.end))
        found.add(block.host())
    found.discard(None)
    kept = [line for number, line in enumerate(lines) if number not in doomed]
    # A table appended at the end came with one blank line before it.
    if any(b.end == len(lines) for b in doomed_blocks) and len(kept) > 1 and kept[-1].strip() == '':
        del kept[-1]
    return ''.join(kept), found


def _is_dotted_table(lines, block, doomed):
    """Whether a [host] block is this module's and holds nothing but doomed lines."""
    return DOTTED_NOTE + '\n' in [line.replace('\r\n', '\n') for line in lines[block.lead:block.header]] and all(
        number in doomed or not lines[number].strip() for number in range(block.header + 1, block.end))


def remove_hosts(existing_text, source, urls):
    """The text without the given host entries (those in the file); comments directly above an
    entry go with it. Entries are cut out as the text they occupy, so a file merged with
    merge_registry comes back byte for byte."""
    model = parse_plain(existing_text, source)
    present = [url for url in urls if url in model.get('host', {})]
    if not present:
        return existing_text
    expected = dict(model)
    expected['host'] = {k: v for k, v in model['host'].items() if k not in present}
    if not expected['host']:
        del expected['host']

    text, found = _cut_entries(existing_text, present)
    if found != set(present):
        editor = TomlEditor(existing_text, source)
        for url in present:
            editor.remove(['host', url])
        text = editor.render()
    return _verify(text, source, expected, _host_order(expected))


def unmerge_registry(existing_text, source, urls, registry=None):
    """The hosts.toml text without the given host entries, or None when nothing of the user's
    remains and the file should be removed.

    The file is removed only when what remains is nothing, or exactly the `server` line
    merge_registry writes into a new file for `registry`: anything else (the user's own
    server line, comments) is the user's, and stays.
    """
    if existing_text is None:
        return None
    text = remove_hosts(existing_text, source, [validate_host_url(url) for url in urls])
    ours = {''}
    if registry is not None and default_server(registry):
        ours.add('server = %s' % _toml_string(default_server(registry)))
    return None if text.strip() in ours else text


def stale_mirrors(existing_text, source, ports, capabilities, node_ips):
    """URLs of the entries that look exactly like the ones this module builds from a node IP
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


# --- the mode a file had before it held a secret ---------------------------------------------

# A file gets mode 0600 while it carries an Authorization header. A file that had another mode
# keeps a note of it right above the first mirror entry, which goes with that entry, so that
# removing the secret or the entries gives the file its own mode back.
SECRET_FILE_MODE = '0600'
_MODE_NOTE = '# peerpull.spegel: mode %s before the Authorization header; removing the header restores it'
_MODE_NOTE_LINE = re.compile(r'^# peerpull\.spegel: mode (0[0-7]{3}) before the Authorization header\b.*$',
                             re.MULTILINE)


def recorded_mode(text):
    """The mode noted in the text ('0644'), or None."""
    match = _MODE_NOTE_LINE.search(text or '')
    return match.group(1) if match else None


def note_mode(text, url, mode):
    """The text with the mode noted right above the entry's first line, its `[host.'url']`
    header or first dotted key (once)."""
    if recorded_mode(text) is not None:
        return text
    lines = text.splitlines(keepends=True)
    first = next(s for s in _statements(text) if s.host() == url)
    lines.insert(first.first, _MODE_NOTE % mode + _newline(text))
    return ''.join(lines)


def drop_mode_note(text):
    """The text without the mode note."""
    if text is None:
        return None
    return ''.join(line for line in text.splitlines(keepends=True) if not _MODE_NOTE_LINE.match(line))


def hosts_file_write(new_text, source, current_text, current_mode, anchor_url=None):
    """(text, mode) of one hosts.toml write: the rule for every hosts.toml this collection writes.

    While new_text carries a secret (a header value, credentials) the file gets SECRET_FILE_MODE,
    and a file that had another mode gets it noted above the entry anchor_url (when that entry is
    in new_text). Without a secret, the mode noted in current_text comes back (None: an existing
    file keeps its mode, a new one gets the default). new_text None (the file goes): (None, None).
    """
    if new_text is None:
        return None, None
    user_mode = recorded_mode(current_text)
    if new_text == redact_secrets(new_text, source):
        return drop_mode_note(new_text), user_mode
    before = user_mode or current_mode
    if before not in (None, SECRET_FILE_MODE) and anchor_url is not None and any(
            statement.host() == anchor_url for statement in _statements(new_text)):
        new_text = note_mode(new_text, anchor_url, before)
    return new_text, SECRET_FILE_MODE


# --- registry directories that shadow _default ----------------------------------------------

# Spegel's init container moves the files it replaces into _backup/; containerd never looks
# there for a registry.
NOT_A_REGISTRY = (DEFAULT_REGISTRY, '_backup')


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
