# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Make `ansible_collections.peerpull.spegel` importable from the checkout.

The same symlink tree that scripts/lib.sh uses for playbook runs, so pytest works on its
own as well as under scripts/test.
"""

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COLLECTIONS = REPO / '.build' / 'collections'
LINK = COLLECTIONS / 'ansible_collections' / 'peerpull' / 'spegel'

if not LINK.exists():
    LINK.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.symlink(REPO, LINK)
    except FileExistsError:  # scripts/lib.sh made it meanwhile
        pass
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
