# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The bad-input suite (README "Bad input"): every case of cases_*.py, judged one by one.

It needs root (read-only mounts, immutable files) and the real containerd binaries;
missing either fails the suite, it never skips.
"""

import importlib
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402  pylint: disable=wrong-import-position

CASES = [case
         for module in sorted(p.stem for p in Path(__file__).parent.glob('cases_*.py'))
         for case in importlib.import_module(module).CASES]


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    assert os.geteuid() == 0, 'the bad-input suite needs root (mounts, chattr)'
    return harness.run_cases(CASES, tmp_path_factory.mktemp('badinput'))


@pytest.mark.parametrize('case', CASES, ids=[case.id for case in CASES])
def test_case(case, run):
    harness.judge(case, run)


def test_suite_size():
    assert len(CASES) >= 60, f'the suite has {len(CASES)} cases; issue 9 asks for at least 60'
