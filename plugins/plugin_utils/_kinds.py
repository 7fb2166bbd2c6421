# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The registered node kinds, and detection from the marks they leave on a node.

A module of its own because it imports every adapter, and every adapter imports
_node_kinds. Registering a kind is one line in ADAPTERS.
"""

from __future__ import annotations

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils._kind_containerd import ContainerdKind
from ansible_collections.peerpull.spegel.plugins.plugin_utils._kind_k0s import K0sKind
from ansible_collections.peerpull.spegel.plugins.plugin_utils._kind_k3s import K3sKind, Rke2Kind
from ansible_collections.peerpull.spegel.plugins.plugin_utils._kind_nodeadm import NodeadmKind
from ansible_collections.peerpull.spegel.plugins.plugin_utils._node_kinds import NodeKind

# One line per adapter.
ADAPTERS = (
    ContainerdKind,
    K3sKind,
    Rke2Kind,
    NodeadmKind,
    K0sKind,
)

KINDS = {adapter.name: adapter for adapter in ADAPTERS}
# What a node with none of the marks is.
FALLBACK = ContainerdKind.name
AUTO = 'auto'


def over_ssh():
    """Names of the kinds applied over SSH (node_config's kind)."""
    return sorted(name for name, adapter in KINDS.items() if adapter.over_ssh)


def with_artefact():
    """Names of the kinds whose adapter renders an artefact (the node_artefact filter's)."""
    return sorted(name for name, adapter in KINDS.items() if adapter.artefact is not NodeKind.artefact)


def all_marks():
    """Every mark of every kind, for node_files' exists probe."""
    return sorted({mark for adapter in ADAPTERS for mark in adapter.marks})


def marks_found(present_paths):
    """{kind name: [its marks that are present]} for the kinds with at least one."""
    present = set(present_paths)
    found = {adapter.name: [mark for mark in adapter.marks if mark in present] for adapter in ADAPTERS}
    return {name: marks for name, marks in found.items() if marks}


def detect(present_paths):
    """The kinds whose marks are among present_paths, sorted; [FALLBACK] when none is."""
    return sorted(marks_found(present_paths)) or [FALLBACK]


def adapter_for(name, option='node_kind', choices=None):
    """The adapter registered as name; a name not among choices (default: every kind) is
    refused, naming the option and the choices."""
    choices = sorted(KINDS) if choices is None else choices
    if name not in choices or name not in KINDS:
        raise SpegelError('%s %r is no node kind this collection knows; use one of %s. Nothing was changed.'
                          % (option, name, ', '.join(choices)))
    return KINDS[name]


def configured(adapter, options, outcome='Nothing was changed.'):
    """The adapter made with options (node_config's kind_options) checked against its OPTIONS;
    a refusal names the option, the adapter's options, and ends with outcome."""
    return adapter(**checked_options(adapter.OPTIONS, options, 'kind_options for kind %s' % adapter.name, outcome))


def checked_options(spec, options, option, outcome='Nothing was changed.'):
    """options, the value of the dict option named option, checked against the argument spec:
    the validated parameters, defaults filled in. An unknown or wrong option is refused, naming
    option and spec's options, and the message ends with outcome."""
    options = options or {}
    unknown = sorted(set(options) - set(spec))
    validated = ArgumentSpecValidator(spec).validate(options) if not unknown else None
    if unknown or validated.error_messages:
        problem = 'unknown option %s' % ', '.join(unknown) if unknown else '; '.join(validated.error_messages)
        raise SpegelError('%s: %s. Its options are: %s. %s' % (
            option, problem, ', '.join(sorted(spec)) or 'none', outcome))
    return validated.validated_parameters


def reason(name):
    """The kind's one sentence on why patching config.toml is wrong there (an adapter may
    compute it, so it is asked of an instance)."""
    return KINDS[name]().refusal.rstrip('.')


def refusal(present_paths):
    """The message refusing to patch config.toml on a node whose marks say it is another kind;
    None when it is plain containerd."""
    found = {name: marks for name, marks in marks_found(present_paths).items() if name != FALLBACK}
    if not found:
        return None
    reasons = ['%s (%s; found %s): %s' % (name, KINDS[name].summary, ', '.join(marks), reason(name))
               for name, marks in sorted(found.items())]
    first = sorted(found)[0]
    return ('This node is not plain containerd: %s. Patching /etc/containerd/config.toml would be undone or '
            'ignored there. Set spegel_node_kind: %s to apply that kind\'s adapter, or spegel_node_kind: %s to '
            'patch config.toml anyway (the module\'s option is node_kind). Nothing was changed.'
            % ('; '.join(reasons), first, FALLBACK))
