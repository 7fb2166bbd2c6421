# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Merges into a hosts.toml that keep the user's entries, and unmerges that give them back.

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

import tomllib

from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_containerd import _check_containerd_order
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_names import (
    default_server, validate_host_url, validate_registry,
)
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_render import (
    DOTTED_NOTE, HOST_FIELDS, _render_header, _toml_string, dotted_form, normalise_host, render_dotted, render_host,
)
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_text import (
    _blocks, _cut_table, _ensure_trailing_newline, _newline, _statements,
)
from ansible_collections.peerpull.spegel.plugins.plugin_utils._toml_edit import TomlEditor, parse_plain, same_value


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


def _host_order(model):
    hosts = model.get('host', {})
    return list(hosts) if isinstance(hosts, dict) else []


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
