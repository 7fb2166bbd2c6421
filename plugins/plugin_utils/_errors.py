# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The collection's one error type (standard library only: the boot step imports it too)."""

from __future__ import annotations


class SpegelError(Exception):
    """A refused input or a failed node operation. The message is for the user: it names the
    file, key or option, and the fix. Action plugins turn it into a failed result
    (plugin_utils._action_base); filters into an AnsibleFilterError.

    changed: whether files stay changed all the same (a node operation that failed part-way
    and could not be undone); False for everything refused before a write.
    """

    changed = False
