# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Comment-preserving TOML edits addressed by key segments (controller side only).

Every edit is applied twice: to the tomlkit document, which keeps comments, quoting and
order, and to a plain-data model of the file. The rendered text is re-parsed with the
standard library's tomllib (an independent parser) and must equal the model exactly, so a
tomlkit bug on containerd-shaped files becomes an error instead of a broken config.
"""

from __future__ import annotations

import copy
import math
import re

from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError

try:
    import tomllib
except ImportError:  # Python < 3.11: the boot step of an image bake renders, it parses no TOML
    tomllib = None

try:
    import tomlkit
    from tomlkit.exceptions import ParseError as TomlkitParseError
    from tomlkit.items import AoT, InlineTable, String, Table
    HAS_TOMLKIT = True
    TOMLKIT_IMPORT_ERROR = None
except ImportError as exc:  # the action plugins report this as a task failure
    HAS_TOMLKIT = False
    TOMLKIT_IMPORT_ERROR = exc

MISSING = object()

# TOML integers are 64-bit: containerd 1.6 and 2.x refuse a file with a larger one, 1.7
# silently wraps it around (tests/real/plugins/plugin_utils/test_containerd_real.py).
INT64_MIN, INT64_MAX = -2 ** 63, 2 ** 63 - 1

_BARE_KEY = re.compile(r'^[A-Za-z0-9_-]+$')

REDACTED = '********'
REDACTED_NEW = '******** (new value)'
# Keys whose values are secrets, wherever they sit: HTTP headers that carry credentials
# (hosts.toml `header` tables, config.toml registry `headers`) and containerd's registry
# credentials (configs."host".auth, auths). Everything below such a key is secret too.
_SECRET_KEY = re.compile(
    r'^(?:authorization|proxy-authorization|cookie|set-cookie|auth|auths|password|passwd|identitytoken'
    r'|registrytoken|token)$|api[-_]?key|auth[-_]?token|access[-_]?token|secret|password',
    re.IGNORECASE)
# The userinfo of a URL runs to the LAST @ before the host, as Go and Python split it.
_URL_CREDENTIALS = re.compile(r'(?i)\b([a-z][a-z0-9+.-]*://)[^/\s\'"?#]+@')
# A password holding / ? or # ends the host early for the parsers (user:pa/ss@host): after the
# colon comes no port, so everything up to the @ is masked too.
_URL_BROKEN_PASSWORD = re.compile(
    r'(?i)\b([a-z][a-z0-9+.-]*://)[^/\s\'"?#@:]*:(?![0-9]*(?:[/?#\s\'"]|$))[^\s\'"@]*@')
# A secret often stays behind as a comment (a commented-out header, a note): in comments, what
# follows a credential-looking key's = or :, and the token after Basic or Bearer.
_COMMENT = re.compile(r'#[^\r\n]*')
_COMMENT_CREDENTIAL = re.compile(
    r'(?i)((?:auth|token|passw|pwd|secret|cookie|credential|(?<![a-z])api(?![a-z]))[\w.-]*[\'"]?\s*[=:]\s*)'
    r'[^\r\n]+|\b((?:basic|bearer)\s+)[^\s\'"]+')


def require_absolute(path, option, example):
    """Refuse a relative path: on the node it would name a file under the connection's working directory."""
    path = '' if path is None else str(path)
    if not path.startswith('/'):
        raise SpegelError('%s must be an absolute path such as %s, got %r; nothing was changed.'
                          % (option, example, path))
    return path


def require_tomlkit():
    if not HAS_TOMLKIT:
        raise SpegelError(
            'The Python library tomlkit is required on the Ansible controller (not on the nodes): '
            'pip install tomlkit (import error: %s)' % TOMLKIT_IMPORT_ERROR)


def format_key(segments):
    """Render key segments the way TOML writes them: plugins."io.containerd.grpc.v1.cri".registry."""
    return '.'.join(s if _BARE_KEY.match(s) else '"%s"' % s.replace('\\', '\\\\').replace('"', '\\"')
                    for s in segments)


def same_value(left, right):
    """Equality that tells TOML types apart (Python says True == 1 and 1 == 1.0)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, float) and math.isnan(left):
        return math.isnan(right)  # TOML's nan: the same value, though nan != nan
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(same_value(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(same_value(a, b) for a, b in zip(left, right))
    return left == right


def check_value(value, segments):
    """Refuse values TOML cannot hold (None, sets, objects, integers beyond 64 bits), naming the key."""
    if isinstance(value, int) and not isinstance(value, bool) and not INT64_MIN <= value <= INT64_MAX:
        raise SpegelError('%s: %d is outside the range of a TOML integer (%d to %d); containerd refuses '
                          'such a file (1.7 reads another number). Give a number in that range, or '
                          'a string if the setting takes one.' % (format_key(segments), value, INT64_MIN, INT64_MAX))
    if isinstance(value, bool) or isinstance(value, (int, float, str)):
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise SpegelError('%s: table keys must be strings, got %r' % (format_key(segments), key))
            check_value(item, list(segments) + [key])
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            check_value(item, segments)
        return
    raise SpegelError('%s: a %s cannot be written to TOML (use a string, number, boolean, list or dict)'
                      % (format_key(segments), 'null' if value is None else type(value).__name__))


def toml_type(value):
    """The TOML name of a value's type, for messages."""
    for kind, name in ((bool, 'a boolean'), (int, 'an integer'), (float, 'a float'), (str, 'a string'),
                       (list, 'an array'), (dict, 'a table')):
        if isinstance(value, kind):
            return name
    return 'a date or time'


def option_type(value):
    """The name of an option value's type, as a playbook author calls it, for messages."""
    for kind, name in ((bool, 'a boolean'), ((int, float), 'a number'), (str, 'a string'),
                       ((list, tuple), 'a list'), (dict, 'a dict')):
        if isinstance(value, kind):
            return name
    return 'null' if value is None else type(value).__name__


def _plain(value):
    """Normalise a value as tomllib would return it: exact builtin types (Ansible passes
    tagged subclasses of str and int), and lists for tuples."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind(value)
    return value


def parse_plain(text, source):
    """Parse with tomllib; errors name the file and line."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpegelError('%s is not valid TOML: %s. Fix the file by hand (nothing was changed).'
                          % (source, exc)) from None


def redact_url_credentials(text):
    """text with the user:password@ of every URL in it masked (for messages)."""
    if not text:
        return text
    masked = r'\1%s@' % REDACTED
    return _URL_BROKEN_PASSWORD.sub(masked, _URL_CREDENTIALS.sub(masked, text))


def _holds_url_credentials(value):
    return isinstance(value, str) and redact_url_credentials(value) != value


def _redact_comments(text):
    """text with the credentials in its comments masked (a # inside a string counts too: this
    text is for display only)."""
    def mask(match):
        return '%s%s' % (match.group(1) or match.group(2), REDACTED)
    return _COMMENT.sub(lambda comment: _COMMENT_CREDENTIAL.sub(mask, comment.group()), text)


def _holds_headers(path, key):
    """A hosts.toml `header` table or config.toml's registry `headers`: HTTP headers, whose
    values are secrets whatever their names (X-JFrog-Art-Api, Private-Token, ...)."""
    return key == 'header' or key == 'headers' and path[-1:] == ('registry',)


def secret_key(path, key):
    """Whether everything below `key` (in the table `path`, a tuple of keys) is secret."""
    return bool(_SECRET_KEY.search(key)) or _holds_headers(path, key)


def _secrets(node, path, secret=False):
    """(path, value, shown) of every secret in parsed TOML data: a value below a secret-looking
    key or in a header table (shown None: masked whole), or a string or array holding a URL with
    credentials (shown: the value with those masked). A secret inside an array of tables masks
    the whole array (no key inside it can be addressed)."""
    if isinstance(node, dict):
        for key, value in node.items():
            below = secret or secret_key(path, key)
            yield from _secrets(value, path + (key,), below)
    elif isinstance(node, list) and any(isinstance(item, dict) for item in node):
        if any(True for item in node for _found in _secrets(item, path, secret)):
            yield path, node, None
    elif secret:
        yield path, node, None
    elif isinstance(node, list) and any(_holds_url_credentials(item) for item in node):
        yield path, node, [redact_url_credentials(item) if isinstance(item, str) else item for item in node]
    elif _holds_url_credentials(node):
        yield path, node, redact_url_credentials(node)


def redact_secrets(text, source='', before=None):
    """The TOML text with every secret value masked, for diffs: every header value (in any
    string form, whatever the header's name), registry credentials, credentials in URLs, and
    credentials left in comments. Given the text before a change, a secret that is not in it is marked,
    so that a rotated secret still shows up in the diff. Text that does not parse is not shown."""
    if not text:
        return text
    try:
        editor = TomlEditor(text, source)
        known = None if before is None else [value for _path, value, _shown in _secrets(parse_plain(before, source), ())]
        found = list(_secrets(editor.model, ()))
        for path, value, shown in found:
            if shown is None:
                shown = REDACTED if known is None or value in known else REDACTED_NEW
            editor.set(list(path), shown, literal=True)
        masked = editor.render() if found else text
    except SpegelError:
        return '(%s is not shown: it cannot be parsed here and may hold secrets)\n' % (source or 'the file')
    return redact_text_credentials(masked)


def redact_text_credentials(text):
    """text with the credentials of its URLs and comments masked: what stays after every secret
    value is masked (keys and comments are no values: a URL with credentials there is masked as text)."""
    return redact_url_credentials(_redact_comments(text))


class TomlEditor:
    """One file's text, edited in place by key segments."""

    def __init__(self, text, source):
        require_tomlkit()
        self.source = source
        self.original = text
        self.newline = '\r\n' if '\r\n' in text else '\n'
        self.model = parse_plain(text, source)
        try:
            self.doc = tomlkit.parse(text)
        except TomlkitParseError as exc:
            raise SpegelError('%s could not be parsed for editing (line %s, column %s): %s. '
                              'Nothing was changed.' % (source, exc.line, exc.col, exc)) from None

    def get(self, segments, default=None):
        node = self.model
        for segment in segments:
            if not isinstance(node, dict) or segment not in node:
                return default
            node = node[segment]
        return node

    def has(self, segments):
        return self.get(segments, MISSING) is not MISSING

    def set(self, segments, value, literal=False):
        """Set the key to value, creating tables on the way (a string as a 'literal' one when
        asked and possible). Returns True when that changed the file."""
        segments = self._check_segments(segments)
        check_value(value, segments)
        value = _plain(value)
        if same_value(self.get(segments, MISSING), value):
            return False
        parent_doc, parent_model = self._descend(segments, create=True)
        leaf = segments[-1]
        old = parent_doc.get(leaf) if leaf in parent_model else None
        inline = isinstance(old if old is not None else parent_doc, InlineTable)
        item = _item(value, inline, like=old, literal=literal)
        if old is None and not inline:
            _indent_like_siblings(parent_doc, item)
        parent_doc[leaf] = item
        parent_model[leaf] = copy.deepcopy(value)
        return True

    def remove(self, segments):
        """Remove the key or table. Returns True when it was there."""
        segments = self._check_segments(segments)
        if not self.has(segments):
            return False
        parent_doc, parent_model = self._descend(segments, create=False)
        del parent_doc[segments[-1]]
        del parent_model[segments[-1]]
        return True

    def render(self):
        """The new text, verified against the model. Raises SpegelError on any mismatch."""
        text = self.doc.as_string()
        if self.newline == '\r\n':
            text = re.sub(r'(?<!\r)\n', '\r\n', text)
        try:
            reparsed = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SpegelError('Refusing to write %s: the edited text is not valid TOML (%s). '
                              'This is a bug in the TOML library; nothing was changed.' % (self.source, exc)) from None
        if not same_value(reparsed, self.model):
            raise SpegelError('Refusing to write %s: the edited text does not hold exactly the intended data '
                              '(a known tomlkit limitation with this file shape); nothing was changed. '
                              'Edit the file by hand or report the file shape.' % self.source)
        return text

    def _check_segments(self, segments):
        if isinstance(segments, str) or not segments:
            raise SpegelError('%s: a key is a non-empty list of segments, got %r' % (self.source, segments))
        segments = list(segments)
        for segment in segments:
            if not isinstance(segment, str) or segment == '':
                raise SpegelError('%s: every key segment must be a non-empty string, got %r'
                                  % (self.source, segments))
        return segments

    def _descend(self, segments, create):
        """The tomlkit container and model dict that hold the last segment of segments."""
        node_doc, node_model = self.doc, self.model
        parents = segments[:-1]
        for depth, segment in enumerate(parents):
            here = parents[:depth + 1]
            if segment not in node_model:
                if not create:
                    raise KeyError(segment)
                # Tables that only hold tables stay implicit: [a.b.c] rather than [a] [a.b] [a.b.c].
                inline = isinstance(node_doc, InlineTable)
                holds_only_tables = depth < len(parents) - 1
                node_doc[segment] = tomlkit.inline_table() if inline else tomlkit.table(is_super_table=holds_only_tables)
                node_model[segment] = {}
            child_doc = node_doc[segment]
            if isinstance(child_doc, AoT) or isinstance(node_model[segment], list):
                raise SpegelError('%s: %s is an array of tables; this key cannot be addressed inside it.'
                                  % (self.source, format_key(here)))
            if not isinstance(child_doc, (Table, InlineTable)) and not hasattr(child_doc, 'keys'):
                raise SpegelError('%s: %s is %s, not a table, so %s cannot be set. Fix or remove that key.'
                                  % (self.source, format_key(here), toml_type(node_model[segment]),
                                     format_key(segments)))
            node_doc, node_model = child_doc, node_model[segment]
        return node_doc, node_model


def _is_single_line_literal(item):
    # String.type exists from tomlkit 0.13.3 on; Debian 13 ships 0.13.2, so read the quotes.
    return isinstance(item, String) and item.as_string().startswith("'") and not item.as_string().startswith("'''")


def _item(value, inline, like=None, literal=False):
    """A tomlkit item for value; a replaced string keeps its quote style, a replaced key its comment."""
    literal = literal or _is_single_line_literal(like)
    if isinstance(value, dict) and inline:
        item = tomlkit.inline_table()
        item.update(value)
    elif isinstance(value, str) and literal and "'" not in value and '\n' not in value:
        item = tomlkit.string(value, literal=True)
    else:
        item = tomlkit.item(value)
    if like is not None and not isinstance(value, dict) and hasattr(like, 'trivia'):
        item.trivia.indent = like.trivia.indent
        item.trivia.comment_ws = like.trivia.comment_ws
        item.trivia.comment = like.trivia.comment
    return item


def _indent_like_siblings(table, item):
    """Give a new key the indentation of the keys already in its table."""
    body = getattr(getattr(table, 'value', None), 'body', None) or getattr(table, 'body', None) or []
    for _key, sibling in reversed(body):
        if _key is not None and not isinstance(sibling, (Table, AoT)) and hasattr(sibling, 'trivia'):
            item.trivia.indent = sibling.trivia.indent
            return
