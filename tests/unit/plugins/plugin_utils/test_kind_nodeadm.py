# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The EKS AL2023 (nodeadm) adapter: its plan, and nodeadm's merge of its NodeConfig onto
AL2023's generated config.toml, reproduced (util.Merge: go-toml v2 maps, mergo WithOverride)
and checked against nodeadm's own e2e case. Real nodeadm and real containerd judging it:
tests/real/plugins/plugin_utils/test_kind_nodeadm.py.
"""

from __future__ import annotations

import email
import json
import tomllib

import pytest
import yaml

from ansible_collections.peerpull.spegel.plugins.plugin_utils._artefacts import Options
from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils._kind_nodeadm import (
    CONFIG_CACHE, NODEADM_DIR, NODEADM_DROPIN, NODEADM_RUN_UNIT,
)

from _kind_nodeadm_cases import (  # this directory
    AL2023_CONTAINERD1, AL2023_CONTAINERD2, CONFIG, FIXTURES, KIND, RUN_UNIT, al2023, dropin_toml, node, nodeadm_merge,
)


OLD_RUN_UNIT = FIXTURES / 'nodeadm' / 'nodeadm-run-before-v20251023.service'


def test_merge_reproduces_nodeadms_own_e2e_case():
    """nodeadm's e2e case containerdv2-config: its NodeConfig, and the config.toml nodeadm wrote
    for it (the template rendered with a kubelet 1.32 mock: the same as AL2023's generated file
    but for the sandbox image, which the case's TOML sets)."""
    case = yaml.safe_load((FIXTURES / 'nodeadm' / 'e2e-configv3.yaml').read_text())
    merged = nodeadm_merge(tomllib.loads(AL2023_CONTAINERD2.read_text()),
                           tomllib.loads(case['spec']['containerd']['config']))
    assert merged == tomllib.loads((FIXTURES / 'nodeadm' / 'e2e-expected-containerd-configv3.toml').read_text())


# --- plan() -----------------------------------------------------------------------------------

def test_plan_writes_the_dropin_and_restarts_nodeadm_run():
    plan = KIND.plan(Options(), node(al2023()))
    (change,) = plan.changes
    assert change.path == NODEADM_DROPIN and change.restart and change.changed and change.mode == '0644'
    assert change.validate is None
    assert change.after.startswith('apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\n')
    assert tomllib.loads(dropin_toml(change.after)) == {'version': 3, 'plugins': {'io.containerd.cri.v1.images': {
        'discard_unpacked_layers': False, 'registry': {'config_path': '/etc/containerd/certs.d'}}}}
    assert KIND.services == ('nodeadm-run.service',)
    assert plan.facts['config_version'] == 3 and plan.facts['dropin'] == NODEADM_DROPIN
    assert plan.facts['generated'] == {'config_path': '/etc/containerd/certs.d:/etc/docker/certs.d',
                                       'discard_unpacked_layers': True}
    assert plan.warnings == []


def test_plan_is_idempotent():
    first = KIND.plan(Options(use_local_image_pull=True), node(al2023()))
    again = KIND.plan(Options(use_local_image_pull=True),
                      node(al2023(**{NODEADM_DROPIN: first.changes[0].after})))
    assert again.changes == [] and again.facts == first.facts


def test_plan_replaces_a_dropin_of_other_settings():
    old = KIND.plan(Options(hosts_dir='/etc/containerd/other'), node(al2023())).changes[0].after
    (change,) = KIND.plan(Options(), node(al2023(**{NODEADM_DROPIN: old}))).changes
    assert change.before.text == old and '"/etc/containerd/certs.d"' in change.after


@pytest.mark.parametrize('config, options', [
    (AL2023_CONTAINERD2, Options(use_local_image_pull=True)),
    (AL2023_CONTAINERD1, Options(containerd_version='1.7.27')),
], ids=['containerd-2', 'containerd-1'])
def test_revert_gives_back_the_node_as_it_was_and_is_idempotent(config, options):
    theirs = NODEADM_DIR + '/10-theirs.yaml'
    before = al2023(config, **{theirs: 'apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\n'})
    (added,) = KIND.plan(options, node(before)).changes
    configured = {**before, NODEADM_DROPIN: added.after}
    revert = KIND.revert(options, node(configured))
    (change,) = revert.changes
    assert change.path == NODEADM_DROPIN and change.after is None and change.restart
    assert {path: text for path, text in configured.items() if path != change.path} == before
    assert revert.warnings == []
    assert KIND.revert(options, node(before)).changes == []


def test_revert_without_the_containerd_version_knows_either_template():
    (added,) = KIND.plan(Options(), node(al2023(AL2023_CONTAINERD1))).changes
    assert KIND.revert(Options(), node(al2023(**{NODEADM_DROPIN: added.after}))).changes[0].after is None


def test_revert_leaves_a_dropin_that_is_not_what_it_writes():
    other = KIND.plan(Options(hosts_dir='/etc/containerd/other'), node(al2023())).changes[0].after
    revert = KIND.revert(Options(), node(al2023(**{NODEADM_DROPIN: other})))
    assert revert.changes == [] and 'is not what this collection writes' in revert.warnings[0]


def test_plan_leaves_the_spec_alone():
    spec = Options()
    KIND.plan(spec, node(al2023()))
    assert spec.hosts_dir is None


def test_containerd_1_gets_the_version_2_template_keys():
    plan = KIND.plan(Options(), node(al2023(AL2023_CONTAINERD1)))
    assert plan.facts['config_version'] == 2
    assert tomllib.loads(dropin_toml(plan.changes[0].after))['plugins'] == {'io.containerd.grpc.v1.cri': {
        'containerd': {'discard_unpacked_layers': False}, 'registry': {'config_path': '/etc/containerd/certs.d'}}}


def test_the_given_containerd_version_wins_over_the_generated_file():
    plan = KIND.plan(Options(containerd_version='1.7.27'), node(al2023()))
    assert plan.facts['config_version'] == 2


def test_a_later_dropin_that_sets_the_same_keys_is_named():
    theirs = ('apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  containerd:\n    config: |\n'
              '      [plugins."io.containerd.cri.v1.images"]\n      discard_unpacked_layers = true\n')
    earlier, later = NODEADM_DIR + '/10-theirs.yaml', NODEADM_DIR + '/zz-theirs.yaml'
    plan = KIND.plan(Options(), node(al2023(**{earlier: theirs, later: theirs, NODEADM_DIR + '/zz.txt': 'x'})))
    (warning,) = plan.warnings
    assert warning.startswith(later) and 'discard_unpacked_layers win' in warning


def cache(containerd_toml):
    """nodeadm's config cache (internal NodeConfig as JSON) with this spec.containerd.config."""
    return json.dumps({'apiVersion': 'node.eks.aws/v1alpha1', 'kind': 'NodeConfig', 'spec': {
        'cluster': {'name': 'my-cluster', 'cidr': '10.100.0.0/16'}, 'containerd': {'config': containerd_toml}}})


V2_USER_DATA = '[plugins."io.containerd.grpc.v1.cri".containerd]\nsnapshotter = "overlayfs"\n'
V2_DROPIN = 'kind: NodeConfig\nspec:\n  containerd:\n    config: |\n      ' + V2_USER_DATA.replace('\n', '\n      ')


def test_version_3_settings_of_the_user_data_are_fine():
    v3 = '[plugins."io.containerd.cri.v1.images"]\nsnapshotter = "overlayfs"\n'
    assert KIND.plan(Options(), node(al2023(**{CONFIG_CACHE: cache(v3)}))).changes
    # With v3 keys beside them, nodeadm already uses the version 3 template: nothing switches.
    assert KIND.plan(Options(), node(al2023(**{CONFIG_CACHE: cache(V2_USER_DATA + v3)}))).changes
    # containerd 1.x: the drop-in is version 2 itself.
    assert KIND.plan(Options(), node(al2023(AL2023_CONTAINERD1, **{CONFIG_CACHE: cache(V2_USER_DATA)}))).changes


@pytest.mark.parametrize('files, options, message', [
    ({}, {}, r'/etc/systemd/system/nodeadm-run.service is missing, so this is no EKS AL2023 node.*Set '
             r'spegel_node_kind'),
    ({NODEADM_RUN_UNIT: OLD_RUN_UNIT.read_text()}, {},
     r'does not read /etc/eks/nodeadm.d/ \(AMI releases before v20251023\).*AMI v20251023 or later'),
    ({NODEADM_RUN_UNIT: RUN_UNIT.read_text()}, {},
     r'/etc/containerd/config.toml is missing or not TOML and the containerd version is unknown.*'
     r'Set containerd_version'),
    (None, {'use_local_image_pull': True, 'containerd_version': '1.7.27'},
     r'/etc/eks/nodeadm.d/spegel.yaml: use_local_image_pull exists only in config version 3'),
    (al2023(**{CONFIG_CACHE: cache(V2_USER_DATA)}), {},
     r'/run/eks/nodeadm/config.json \(user data and drop-ins\): the containerd settings there are in version 2 '
     r'tables.*Move those settings to the version 3 tables'),
    (al2023(**{NODEADM_DIR + '/10-theirs.yaml': V2_DROPIN}), {},
     r'/etc/eks/nodeadm.d/10-theirs.yaml: the containerd settings there are in version 2 tables'),
], ids=['not-nodeadm', 'ami-before-dropins', 'unknown-containerd', 'local-pull-on-1.x', 'v2-user-data',
        'v2-dropin'])
def test_refusals_name_the_file_and_the_fix(files, options, message):
    with pytest.raises(SpegelError, match=message):
        KIND.plan(Options(**options), node(al2023() if files is None else files))


# --- the artefact -----------------------------------------------------------------------------

def test_artefact_is_mime_user_data_with_the_nodeconfig_part():
    artefact = KIND.artefact(Options())
    assert artefact['distribution'] == 'nodeadm'
    files = {item['name']: item['content'] for item in artefact['files']}
    message = email.message_from_string(files['user-data.mime'])
    assert message.is_multipart()
    (part,) = message.get_payload()
    assert part.get_content_type() == 'application/node.eks.aws'
    assert part.get_payload() == files['spegel.yaml']
    assert tomllib.loads(dropin_toml(files['spegel.yaml']))['plugins']['io.containerd.cri.v1.images'][
        'registry'] == {'config_path': '/etc/containerd/certs.d'}
    assert artefact['chart_values']['spegel']['containerdRegistryConfigPath'] == '/etc/containerd/certs.d'


def test_artefact_refuses_authorization():
    with pytest.raises(SpegelError, match='authorization: the nodeadm artefact is readable configuration'):
        KIND.artefact(Options(authorization='Basic dTpw'))


def test_diffs_show_the_nodeconfig_and_hide_other_text():
    dropin = KIND.plan(Options(), node(al2023())).changes[0].after
    assert KIND.redact(NODEADM_DROPIN, dropin) == dropin
    with_header = dropin.replace('config_path', '[plugins."io.containerd.cri.v1.images".registry.headers]\n'
                                 '      Authorization = "Basic c2VjcmV0"\n      config_path')
    assert KIND.redact(NODEADM_DROPIN, with_header) != with_header
    other = dropin + 'spec2: {token: c2VjcmV0}\n'
    assert 'c2VjcmV0' not in KIND.redact(NODEADM_DROPIN, other) and 'is not shown' in KIND.redact(NODEADM_DROPIN, other)


def test_verify_compares_containerds_start_with_the_dropin_and_the_config_nodeadm_wrote():
    """nodeadm-run is a oneshot that writes config.toml from the drop-in and restarts containerd:
    containerd's start after both files' last change is what tells that they are loaded."""
    state = node(al2023())
    KIND.plan(Options(), state)
    assert KIND.loaded_by(Options(), state) == ('containerd', [NODEADM_DROPIN, CONFIG], None)
