# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The k0s adapter: its plan. Its drop-in loaded by real containerd 2.x as k0s loads it:
tests/real/plugins/plugin_utils/test_kind_k0s.py.
"""

from __future__ import annotations

import tomllib

import pytest

from ansible_collections.peerpull.spegel.plugins.plugin_utils._artefacts import Options, node_artefact
from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils._kind_k0s import K0S_CONFIG, K0S_DROPIN_DIR

from _kind_k0s_cases import GENERATED, KIND, node  # this directory


DROPIN = K0S_DROPIN_DIR + '/spegel.toml'


# What k0s before 1.36.1 writes (containerd 1.7; k0s merges drop-ins into containerd-cri.toml).
OLD_GENERATED = (GENERATED.split('imports')[0] + 'imports = ["/run/k0s/containerd-cri.toml"]\nversion = 2\n')


def test_plan_writes_the_dropin_without_a_restart():
    plan = KIND.plan(Options(), node({K0S_CONFIG: GENERATED}))
    (change,) = plan.changes
    assert change.path == DROPIN and change.mode == '0644' and change.changed
    assert not change.restart and KIND.services == ()  # k0s restarts its containerd itself
    assert change.after == node_artefact('k0s')['files'][0]['content']  # one renderer for both
    assert tomllib.loads(change.after) == {'version': 3, 'plugins': {'io.containerd.cri.v1.images': {
        'discard_unpacked_layers': False, 'registry': {'config_path': '/etc/containerd/certs.d'}}}}
    assert plan.facts['socket'] == '/run/k0s/containerd.sock' and plan.facts['dropin'] == DROPIN
    assert plan.warnings == []


def test_plan_is_idempotent():
    first = KIND.plan(Options(use_local_image_pull=False), node({K0S_CONFIG: GENERATED}))
    again = KIND.plan(Options(use_local_image_pull=False),
                      node({K0S_CONFIG: GENERATED, DROPIN: first.changes[0].after}))
    assert again.changes == [] and again.facts == first.facts


def test_a_later_dropin_that_sets_the_same_keys_is_named():
    theirs = '[plugins."io.containerd.cri.v1.images".registry]\nconfig_path = "/etc/k0s/certs.d"\n'
    earlier, later = K0S_DROPIN_DIR + '/10-theirs.toml', K0S_DROPIN_DIR + '/zz-theirs.toml'
    plan = KIND.plan(Options(), node({K0S_CONFIG: GENERATED, earlier: theirs, later: theirs}))
    (warning,) = plan.warnings
    assert warning.startswith(later) and 'config_path win' in warning


def applied(files, plan):
    """files after the plan's changes (after None: the file removed)."""
    files = dict(files)
    for change in plan.changes:
        if change.after is None:
            del files[change.path]
        else:
            files[change.path] = change.after
    return files


def test_revert_gives_back_the_node_as_it_was_and_is_idempotent():
    theirs = K0S_DROPIN_DIR + '/10-theirs.toml'
    before = {K0S_CONFIG: GENERATED, theirs: 'version = 3\n'}
    options = Options(use_local_image_pull=True)
    configured = applied(before, KIND.plan(options, node(before)))
    assert configured != before
    revert = KIND.revert(options, node(configured))
    (change,) = revert.changes
    assert change.path == DROPIN and change.after is None and not change.restart  # k0s reloads by itself
    assert applied(configured, revert) == before and revert.warnings == []
    assert KIND.revert(options, node(before)) == ([], [], revert.facts)


def test_revert_leaves_a_dropin_that_is_not_what_it_writes():
    edited = KIND.plan(Options(), node({K0S_CONFIG: GENERATED})).changes[0].after + '# mine\n'
    revert = KIND.revert(Options(), node({K0S_CONFIG: GENERATED, DROPIN: edited}))
    assert revert.changes == []
    (warning,) = revert.warnings
    assert warning.startswith(DROPIN + ' is not what this collection writes') and 'left' in warning


def test_artefact_is_the_k0s_artefact():
    assert KIND.artefact(Options()) == node_artefact('k0s')


@pytest.mark.parametrize('files, options, message', [
    ({}, {}, r'/etc/k0s/containerd.toml is missing: k0s writes it when its worker starts.*run again'),
    ({K0S_CONFIG: GENERATED.replace('# k0s_managed=true\n', '')}, {},
     r'/etc/k0s/containerd.toml does not start with "# k0s_managed=true".*spegel_node_kind: containerd and '
     r'containerd_config_file: /etc/k0s/containerd.toml'),
    ({K0S_CONFIG: '# k0s_managed=true\nversion = \n'}, {}, r'/etc/k0s/containerd.toml is not TOML'),
    ({K0S_CONFIG: OLD_GENERATED}, {}, r'k0s before 1.36.1 .* Upgrade k0s to 1.36.1 or later'),
    ({K0S_CONFIG: GENERATED}, {'containerd_version': '1.7.27'},
     r'containerd_version 1.7.27: the k0s drop-in is version 3'),
], ids=['not-started', 'not-managed', 'not-toml', 'k0s-before-1.36.1', 'containerd-1'])
def test_refusals_name_the_file_and_the_fix(files, options, message):
    with pytest.raises(SpegelError, match=message):
        KIND.plan(Options(**options), node(files))


def test_verify_says_that_no_unit_tells_when_k0s_restarted_its_containerd():
    state = node({K0S_CONFIG: GENERATED})
    KIND.plan(Options(), state)
    unit, paths, why = KIND.loaded_by(Options(), state)
    assert unit is None and paths == [DROPIN]
    assert why == ('not checked for k0s: k0s restarts its containerd itself a few seconds after %s changes, and no '
                   'systemd unit shows when' % K0S_DROPIN_DIR)
