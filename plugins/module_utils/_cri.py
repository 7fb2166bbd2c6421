# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Whether `ctr plugins ls` shows containerd serving CRI: the one rule by which the node
(node_files, waiting after a restart) and the controller (plugin_utils/_containerd_restart.py's
CriAnswer) judge its answer. Standard library only."""

from __future__ import annotations

import re

# `ctr plugins ls` prints TYPE ID PLATFORMS STATUS. containerd 1.x and 2.x both serve the CRI
# API as plugin io.containerd.grpc.v1/cri; on 2.x it loads only when its io.containerd.cri.v1
# dependencies did, so this one line proves CRI is up on both.
CRI_PLUGIN_OK = re.compile(r'^io\.containerd\.grpc\.v1\s+cri\s+.*\bok\s*$', re.MULTILINE)


def cri_loaded(rc, stdout):
    """Whether `ctr plugins ls` exited 0 listing the CRI plugin as ok."""
    return rc == 0 and bool(CRI_PLUGIN_OK.search(stdout or ''))
