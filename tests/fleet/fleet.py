# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Throw-away systemd nodes (sshd, containerd, Spegel) for the peerpull.spegel tests.

The command line of the peerpull_fleet package next to it; see README.md. Runs as root,
Python 3.11 standard library only: python3 tests/fleet/fleet.py --help
"""

import sys

from peerpull_fleet.cli import main

if __name__ == "__main__":
    sys.exit(main())
