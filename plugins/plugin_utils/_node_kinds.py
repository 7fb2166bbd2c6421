# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The seam between WHAT a node must end up with and HOW a kind of node gets there.

What: a distribution-neutral spec (hosts directory, registries, mirror targets,
capabilities, containerd settings): `_artefacts.Options`, built once from the roles'
variables. How: one adapter per node kind (plain containerd, k3s, rke2, k0s, EKS AL2023's
nodeadm, ...). An adapter reads nothing itself: it names what it must read, and from what
was read it returns the file changes it wants. The caller (an action plugin) reads in one
round trip, writes every change in one staged, all-or-nothing round trip, and restarts the
adapter's service when a change asks for it. Adapters for nodes never reached over SSH
return an artefact (user data, a machine-config patch) instead.

Adding a node kind is: one adapter module (`_kind_<name>.py`) registered in `_kinds.KINDS`
(one line), its fixtures, its tests.
"""

from __future__ import annotations

import collections

from ansible_collections.peerpull.spegel.plugins.plugin_utils._containerd_restart import ADDRESS
from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils._toml_edit import redact_secrets


class FileChange(collections.namedtuple('FileChange', 'path before after mode validate restart owner group backup',
                                        defaults=(None, None, False))):
    """One file an adapter wants changed on the node.

    path: absolute path on the node. before: the `_node.NodeFile` read from the node (its
    `exists` is False for a new file). after: the new text, or None to remove the file.
    mode: the file's mode, or None (an existing file keeps its own, a new one gets 0644). validate: a
    command with `%s` run on the staged file before it replaces the old one, or None.
    restart: whether the adapter's service must restart to load this change. owner, group:
    for a new file (None: the caller's). backup: keep a timestamped copy of the old file.
    """

    __slots__ = ()

    @property
    def changed(self):
        if self.after is None:
            return self.before.exists
        return not self.before.exists or self.after != self.before.text


class Plan(collections.namedtuple('Plan', 'changes warnings facts')):
    """An adapter's answer: the changes (only those that change something), warnings for the
    user, and facts for the task's result (kind-specific, no secrets)."""

    __slots__ = ()


def remove_if_ours(state, path, ours, restart):
    """(changes, warnings) that remove the drop-in at path while its text is one of `ours` (what
    plan() writes); a drop-in changed since is left, and named."""
    current = state.file(path)
    if not current.exists:
        return [], []
    if current.text in ours:
        return [FileChange(path, current, None, None, None, restart)], []
    return [], ['%s is not what this collection writes for these options (changed since, or written with '
                'other options), so it was left; remove it by hand if it is no longer wanted.' % path]


class NodeKind:
    """The interface every adapter implements. Subclasses set the class attributes and
    implement reads() and plan(); adapters for nodes without SSH implement artefact()."""

    # The name users give in spegel_node_kind, and detection returns.
    name = ''
    # One line for messages and docs: what the node runs.
    summary = ''
    # Paths whose presence on the node marks this kind (read in the detection round trip).
    marks = ()
    # systemd units restarted, in order, after a change with restart=True.
    services = ()
    # The socket the kind's containerd serves (CRI), where containerd_restart proves it came back.
    cri_address = ADDRESS
    # One sentence for containerd_config's refusal when detection finds this kind: why
    # patching /etc/containerd/config.toml is wrong here.
    refusal = ''
    # False for kinds only ever configured at boot (artefact() only): node_config does not offer them.
    over_ssh = True
    # False where the adapter owns the mirror configuration itself (k3s/rke2: registries.yaml):
    # the mirror role writes no hosts.toml on such nodes.
    writes_hosts_toml = True
    # Kind-specific options, as an ansible argument spec (node_config's kind_options); the
    # validated values are self.options.
    OPTIONS = {}

    def __init__(self, **options):
        self.options = options

    def probes(self, spec):
        """node_files' probe arguments for the same read round trip (containerd_version=True,
        config_dump=PATH, service_started=UNIT); their answers are in the state plan() gets."""
        return {}

    def follow_up(self, spec, state):
        """(paths, globs) of a second read, only when the first one shows more is needed
        (containerd: the drop-ins its config imports); plan() then gets both reads merged."""
        return (), ()

    def redact(self, path, text, before=None):
        """text as shown in a diff, secrets masked (TOML by default; before: the text it
        replaces, so that a changed secret is marked as new)."""
        return redact_secrets(text, path, before=before)

    def reads(self, spec):
        """(paths, globs) the plan needs from the node, read in one round trip."""
        raise NotImplementedError

    def as_found(self, state):
        """The facts plan() decides about the node's own files (such as restore markers), as the
        node has them: reported instead when nothing gets written."""
        return {}

    def plan(self, spec, state):
        """The Plan for a node whose reads() came back as `state` (a `_node.NodeState`)."""
        raise NotImplementedError

    def loaded_by(self, spec, state):
        """(unit, paths, why) for verify's `restarted` check, asked after plan() saw state: the
        systemd unit whose start loads the adapter's files into the running containerd, and those
        files (among those reads() read); unit None where no unit tells, and why says so."""
        paths = list(self.reads(spec)[0])
        if not self.services:
            return None, paths, 'not checked for %s: no systemd unit restarts its containerd' % self.name
        return self.services[0], paths, None

    def revert(self, spec, state):
        """The Plan that removes what plan() adds for the same spec, and nothing else (node_config's
        state=absent; same reads() and probes())."""
        raise SpegelError('node_config state: absent: kind %s has no revert; for plain containerd use '
                          'peerpull.spegel.containerd_restart with revert: true (the role\'s uninstall does). '
                          'Nothing was changed.' % self.name)

    def artefact(self, spec):
        """The artefact for a node configured at boot (the `node_artefact` filter's shape); the
        filter reaches every kind that implements it through `_artefacts.node_artefact`."""
        raise NotImplementedError('%s nodes are configured over SSH; there is no artefact.' % self.name)
