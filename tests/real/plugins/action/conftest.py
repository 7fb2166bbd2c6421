# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The fixtures of tests/unit/plugins/action/action_runner.py, for this directory's tests (imported:
pytest takes them from here)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / 'unit' / 'plugins' / 'action'))
from action_runner import k3s_etc, kept_reads, run_action  # noqa: E402,F401  pylint: disable=unused-import
