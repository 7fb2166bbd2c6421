# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """The modules that can plan a change from the read of an earlier check-mode run."""

    DOCUMENTATION = r"""
options:
  reuse_read:
    description:
      - In check mode, keep what this task read from the node for the playbook run, in the run's
        own local temporary directory on the controller (private to the user, removed when
        C(ansible-playbook) ends). The content of the files read is kept there, secrets included.
      - Outside check mode, start from the read that a check-mode run of this task with the same
        options kept for the same node in this playbook run, when there is one. The change then
        needs one round trip less. Each kept read is used once.
      - This is safe because every write is locked on the content it was planned from. When a file
        changed since the kept read, nothing is written from it; the task reads the node again and
        plans anew. It reads again too when the kept read shows nothing to change, so that
        C(ok) is said of the node as it is.
      - The playbook C(site) plans with this in its first play and changes the nodes in its
        second.
    type: bool
    default: false
"""
