# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one rule for every hosts.toml this collection writes: its text and its mode.

hosts_file_write gives a file mode 0600 while it carries a secret (an Authorization header),
notes the mode it had before above our entry, and gives that mode back when the secret
goes. The containerd_hosts action, the migration of legacy registry mirrors and the boot step
of an image bake (_boot_hosts, on the node's standard library alone: no tomlkit, maybe no
tomllib) all write through it.
"""

from __future__ import annotations

import re

from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_text import _newline, _statements
from ansible_collections.peerpull.spegel.plugins.plugin_utils._toml_edit import redact_text_credentials, secret_key

# A file gets mode 0600 while it carries an Authorization header. A file that had another mode
# keeps a note of it right above the first mirror entry, which goes with that entry, so that
# removing the secret or the entries gives the file its own mode back.
SECRET_FILE_MODE = '0600'
_MODE_NOTE = '# peerpull.spegel: mode %s before the Authorization header; removing the header restores it'
_MODE_NOTE_LINE = re.compile(r'^# peerpull\.spegel: mode (0[0-7]{3}) before the Authorization header\b.*$',
                             re.MULTILINE)


def holds_secret(text):
    """Whether the text (valid TOML) holds a value redact_secrets masks: one below a secret key
    (a header, credentials), or a URL or comment with credentials. Read from the text's keys
    with the standard library only (the boot step has no TOML library)."""
    if redact_text_credentials(text) != text:
        return True
    for statement in _statements(text):
        if statement.kind != 'pair':
            continue
        # the paths of the values: an inline table is none, what it holds is
        paths = [statement.path + inner for inner in statement.inner_keys] if statement.inline else [statement.path]
        if any(secret_key(tuple(path[:at]), key) for path in paths for at, key in enumerate(path)):
            return True
    return False


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


def hosts_file_write(new_text, current_text, current_mode, anchor_url=None):
    """(text, mode) of one hosts.toml write: the rule for every hosts.toml this collection writes.

    While new_text carries a secret (a header value, credentials) the file gets SECRET_FILE_MODE,
    and a file that had another mode gets it noted above the entry anchor_url (when that entry is
    in new_text). Without a secret, the mode noted in current_text comes back (None: an existing
    file keeps its mode, a new one gets the default). new_text None (the file goes): (None, None).
    """
    if new_text is None:
        return None, None
    user_mode = recorded_mode(current_text)
    if not holds_secret(new_text):
        return drop_mode_note(new_text), user_mode
    before = user_mode or current_mode
    if before not in (None, SECRET_FILE_MODE) and anchor_url is not None and any(
            statement.host() == anchor_url for statement in _statements(new_text)):
        new_text = note_mode(new_text, anchor_url, before)
    return new_text, SECRET_FILE_MODE
