# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The layout of a hosts.toml text: its tables and top-level statements, with their lines.

A merge splices entries into the text and cuts them out as the lines they occupy, so it
needs to know where each table (_blocks, with the comments directly above its header) and
each statement (_statements: a table header or a key = value pair, dotted keys included)
starts and ends. Read from the text itself, for valid TOML only. The boot step of an image
bake runs _statements on the node, on the standard library only (maybe without tomllib,
which only _blocks needs).
"""

from __future__ import annotations

import bisect
import re

try:
    import tomllib
except ImportError:  # Python < 3.11: the boot step of an image bake renders, it parses no TOML
    tomllib = None


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


class _Statement:
    """One top-level statement of a valid TOML text: a `[table]` or `[[array]]` header, or a
    `key = value` pair (in the table `section`), on the lines first to end (exclusive)."""

    def __init__(self, kind, raw_key, section, key, first, end, inline, inner_keys):
        self.kind, self.raw_key, self.section, self.key = kind, raw_key, section, key
        self.first, self.end, self.inline = first, end, inline
        self.inner_keys = inner_keys  # an inline table's values' key paths, below its own key

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
        start, inline, inner_keys = at, False, []
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
            inner_keys = _inline_value_keys(text, at) if inline else []
            at = _value_end(text, at)
        at = _after_line(text, at)
        statements.append(_Statement(kind, raw_key.strip(), statement_section, key,
                                     line_of(start), line_of(at - 1) + 1, inline, inner_keys))
    return statements


def _inline_value_keys(text, at):
    """The key paths of the values inside the inline table that starts at text[at] ('{'), below
    its key; a table holds no value of its own: `{a = 1, b = {c = [{d = 2}]}, e = {}}` gives
    a, b.c and b.c.d."""
    paths, open_values, expect_key = [], [], False  # open_values: (kind, path) of each open { or [
    while True:
        char = text[at]
        if char in ' \t\r\n':
            at += 1
        elif char == '#':  # a comment inside an array
            at = _after_line(text, at)
        elif expect_key and char != '}':
            equals = _key_end(text, at, '=')
            path = open_values[-1][1] + _key_path(text[at:equals])
            at, expect_key = equals + 1, False
            while text[at] in ' \t':
                at += 1
            if text[at] != '{':
                paths.append(path)
            if text[at] in '{[':
                open_values.append(('table' if text[at] == '{' else 'array', path))
                expect_key, at = text[at] == '{', at + 1
        elif char in '{[':
            open_values.append(('table' if char == '{' else 'array', open_values[-1][1] if open_values else []))
            expect_key, at = char == '{', at + 1
        elif char in '}]':
            open_values.pop()
            at += 1
            if not open_values:
                return paths
        elif char == ',':
            expect_key, at = open_values[-1][0] == 'table', at + 1
        elif char in '"\'':
            at = _string_end(text, at)
        else:
            at += 1


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


# One segment of a TOML key (bare, "basic" or 'literal'), then a dot or the end.
_KEY_SEGMENT = re.compile(r"""\s*(?:([A-Za-z0-9_-]+)|"((?:[^"\\]|\\.)*)"|'([^']*)')\s*(\.|$)""")
_ESCAPE = re.compile(r'\\(?:u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|(.))')
_ESCAPED = {'b': '\b', 't': '\t', 'n': '\n', 'f': '\f', 'r': '\r', '"': '"', '\\': '\\'}


def _key_path(raw_key):
    """The segments of a key of valid TOML ('host."https://x".header'), read with the standard
    library only: the boot step runs on Pythons without tomllib."""
    path, at, raw_key = [], 0, raw_key.strip()
    while True:
        match = _KEY_SEGMENT.match(raw_key, at)
        if match is None:
            raise ValueError('%r is no TOML key' % raw_key)
        bare, basic, literal, dot = match.groups()
        path.append(bare if bare is not None else literal if literal is not None else _ESCAPE.sub(_unescape, basic))
        if not dot:
            return path
        at = match.end()


def _unescape(match):
    code = match.group(1) or match.group(2)
    return chr(int(code, 16)) if code else _ESCAPED[match.group(3)]


def _ensure_trailing_newline(text):
    if text == '' or text.endswith('\n'):
        return text
    return text + _newline(text)


def _newline(text):
    return '\r\n' if '\r\n' in text else '\n'
