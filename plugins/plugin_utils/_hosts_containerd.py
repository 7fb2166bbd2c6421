# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""How containerd reads a hosts.toml: which files 1.x cannot read, and the order it tries hosts in.

containerd tries the `[host."URL"]` entries of a hosts.toml in file order, as each major
version reads it: 1.x (go-toml v1) ignores a whole file whose table header holds '[' or ']'
and sorts hosts by the line they start on; 2.x lists only the hosts that have a table
header. A merge must give containerd the intended order (_check_containerd_order), and
the containerd role refuses a config.toml 1.x cannot read (containerd1_unreadable).
"""

from __future__ import annotations

from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_text import _statements


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
