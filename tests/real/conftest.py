# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Fixtures of the tests that run real containerd binaries (tests/real: these tests need the
binaries, Go and root, and fail without them; tests/unit needs none of them)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'containerd'))
import binaries  # noqa: E402  (tests/containerd, put on sys.path just above)


@pytest.fixture(scope='session')
def ctr():
    """containerd family ("1.6" ... "2.4") -> its ctr binary."""
    return {found.family: found.ctr for found in binaries.all_binaries()}
