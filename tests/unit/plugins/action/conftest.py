# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The fixtures of action_runner.py, for this directory's tests (imported: pytest takes them from here)."""

from action_runner import failing_rename, k3s_etc, kept_reads, run_action  # noqa: F401  pylint: disable=unused-import
