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
        C(ansible-playbook) ends, unless it is killed). The content of the files read is kept there,
        secrets included.
      - Outside check mode, start from the read that a check-mode run with the same read kept for
        the same host and connection in this playbook run, when there is one. The change then needs
        one round trip less. Each kept read is used once.
      - The write that follows repeats that read on the node and writes only if the node still
        shows what was kept. That covers files the task reads but does not write, the containerd
        version, the unit's start and the addresses, but not what the action reads in a second
        round trip (drop-ins, migrated mirrors), which it reads then, as without this option.
        When the node changed, nothing is written and the task reads the node again and plans
        anew. It also reads again when the kept read shows nothing to change, or a failure, so
        that either is said of the node as it is.
      - Not with a check of the running containerd (O(peerpull.spegel.node_config#module:verify),
        O(peerpull.spegel.containerd_config#module:cri_address)), whose answers are of the moment.
      - The playbook C(site) plans with this in its first play and changes the nodes in its
        second.
    type: bool
    default: false
"""
