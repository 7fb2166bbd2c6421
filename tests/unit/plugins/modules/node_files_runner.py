# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""node_files run in-process, as the tests of this directory (and of tests/real/plugins/modules) call it."""

from __future__ import annotations

import hashlib
import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.peerpull.spegel.plugins.modules import node_files


def run(capsys, **args):
    """node_files.main() with these arguments; its JSON result."""
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            node_files.main()
    return json.loads(capsys.readouterr().out)


def sha1(text):
    return hashlib.sha1(text.encode()).hexdigest()


def entries(directory):
    """Every path under directory, relative to it, sorted."""
    return sorted(str(p.relative_to(directory)) for p in directory.rglob('*'))
