# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Whether containerd came back with CRI after a restart, and the words for what happened
(the containerd_restart action plugin)."""

from __future__ import annotations

import re
import shlex

ADDRESS = '/run/containerd/containerd.sock'
# Seconds between two polls; each `ctr` attempt also gives up after this long (ctr would wait
# 10s for a socket that is not there), so the timeout holds.
POLL_DELAY = 2

# `ctr plugins ls` prints TYPE ID PLATFORMS STATUS. containerd 1.x and 2.x both serve the CRI
# API as plugin io.containerd.grpc.v1/cri; on 2.x it loads only when its io.containerd.cri.v1
# dependencies did, so this one line proves CRI is up on both.
CRI_PLUGIN_OK = re.compile(r'^io\.containerd\.grpc\.v1\s+cri\s+.*\bok\s*$', re.MULTILINE)
_CRI_WORD = re.compile(r'\bcri\b')


def plugins_ls_command(address):
    """One poll: `ctr plugins ls` needs a running daemon and lists each plugin's status."""
    return shlex.join(['ctr', '--address', address, '--connect-timeout', '%ds' % POLL_DELAY, 'plugins', 'ls'])


class CriAnswer:
    """What one `ctr plugins ls` said (rc, stdout, stderr as the command returned them)."""

    def __init__(self, rc, stdout='', stderr=''):
        self.rc = rc
        self.stdout = stdout or ''
        self.stderr = stderr or ''

    @property
    def ready(self):
        return self.rc == 0 and bool(CRI_PLUGIN_OK.search(self.stdout))

    def failure(self, address, timeout):
        """Why containerd is not back, in the words of the role's former messages."""
        if self.rc != 0:
            return 'it did not answer on %s within %ss: %s' % (address, timeout, self.stderr.strip())
        cri_lines = [' '.join(line.split()) for line in self.stdout.splitlines() if _CRI_WORD.search(line)]
        return 'it answered, but its CRI plugin did not load: %s' % (
            '; '.join(cri_lines) or '`ctr plugins ls` does not list it (disabled_plugins?)')


def failure_message(host, path, service_name, why, put_back, ready_again):
    """The failed task's message: what broke, what was put back (put_back: a sentence that ends
    where 'and containerd was restarted' follows), and whether the node runs again."""
    return ('containerd on %s did not come back with its CRI plugin after %s changed: %s. %s and containerd '
            'was restarted: %s' % (
                host, path, why, put_back,
                'it runs again with CRI, so the node keeps working as before; see journalctl -u %s for what the '
                'new configuration broke.' % service_name if ready_again else
                'it STILL does not answer with CRI - this node needs attention now (journalctl -u %s).'
                % service_name))


def put_back_sentence(path, restored_from=None, removed=False, error=None):
    if error:
        return 'Putting back the previous %s FAILED (%s),' % (path, error)
    if restored_from:
        return 'The previous configuration was restored from %s' % restored_from
    if removed:
        return 'The new %s was removed (there was none before)' % path
    return ('This run did not change %s (the restart loaded changes made before), so there was nothing to put '
            'back,' % path)
