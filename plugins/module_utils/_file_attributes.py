# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Whether ansible.builtin.files' `attributes` and SELinux options would change a file.

ansible-core's set_attributes_if_different compares lsattr's letters with the option as text,
so `+i` on ext4 (where lsattr also shows `e`) or any `-` value runs chattr, and reports a
change, on every run. Here a value is compared as chattr applies it, so a second run is
idempotent; chattr itself (through ansible-core) stays the judge of which letters exist.

Standard library only: the controller decides check mode and diff with it, node_files whether
to run chattr after a write.
"""

from __future__ import annotations

OPERATORS = ('+', '-', '=')
# lsattr shows these, but chattr can neither set nor clear them (man chattr): `=` keeps them.
READ_ONLY_FLAGS = frozenset('eEhINV')


def parse_attributes(value):
    """(operator, letters) of an `attributes` value such as `+i`, `-A` or `i` (`=` assumed, as
    ansible-core assumes it). ValueError, with the fix, for a value chattr could never take."""
    operator, letters = (value[0], value[1:]) if value and value[0] in OPERATORS else ('=', value)
    if not letters or not (letters.isascii() and letters.isalpha()):
        raise ValueError("attributes must be chattr's letters after an optional +, - or = (such as '+i', '-i' "
                         "or '+A'; see lsattr -d PATH), got %r" % (value,))
    return operator, letters


def wanted_flags(current, value):
    """The letters lsattr shows once chattr applied value to a file that shows current."""
    operator, letters = parse_attributes(value)
    if operator == '+':
        return current + ''.join(sorted(set(letters) - set(current)))
    if operator == '-':
        return ''.join(flag for flag in current if flag not in letters)
    return ''.join(flag for flag in current if flag in READ_ONLY_FLAGS and flag not in letters) + letters


def attributes_differ(current, value):
    """Whether chattr value would change a file whose lsattr letters are current. None for
    current: lsattr could not tell (a file system without attributes), so chattr is asked and
    judges; None for value: not asked."""
    if value is None:
        return False
    if current is None:
        return True
    return set(wanted_flags(current, value)) != set(current)


def chattr_argument(value):
    """value as ansible-core's set_attributes_if_different takes it: it adds `=` itself."""
    operator, letters = parse_attributes(value)
    return letters if operator == '=' else operator + letters


def wanted_context(current, default, requested):
    """The SELinux context (a list of user, role, type[, level]) a file with context current
    gets from the requested parts, as ansible-core's load_file_common_arguments and
    set_context_if_different make it: None keeps that part, `_default` takes the policy's
    (default: matchpathcon's context for the path)."""
    wanted = list(current)
    for index, part in enumerate(requested[:len(current)]):
        if part == '_default':
            part = default[index] if default and index < len(default) else None
        if part is not None:
            wanted[index] = part
    return wanted
