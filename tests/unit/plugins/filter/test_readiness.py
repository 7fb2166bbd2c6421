# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The verify playbook's report and table: every node named, the table's text as users read it."""

import json

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.peerpull.spegel.plugins.filter.readiness import readiness_report, readiness_table

CHECKS = ['config', 'restarted', 'cri', 'hosts_toml', 'mirror']


def readiness(ready, **failed):
    """A node's spegel_readiness as the playbook records it: every check ok but those named."""
    checks = {name: {'ok': name not in failed, 'detail': failed.get(name, '%s fine' % name)} for name in CHECKS}
    return {'ready': ready, 'checks': checks}


HOSTVARS = {
    'node-a': {'spegel_readiness': readiness(True), 'other': 1},
    'node-bb-long-name': {'spegel_readiness': readiness(False, restarted='restart pending: x',
                                                        mirror='http://1.2.3.4:30020/v2/ HTTP 503')},
    'x': {'ansible_host': '192.0.2.9'},  # failed before its checks: no spegel_readiness
}


def test_report_names_every_node_in_order_with_its_fact_as_recorded():
    report = readiness_report(['x', 'node-a', 'node-bb-long-name'], HOSTVARS)
    assert list(report) == ['x', 'node-a', 'node-bb-long-name']
    assert report['node-a'] is HOSTVARS['node-a']['spegel_readiness']
    assert report['x'] == {'ready': False, 'error': 'unreachable or failed before its checks ran'}
    # What the JSON report and the AWX artefacts carry: the keys consumers read.
    assert json.loads(json.dumps(report))['node-bb-long-name']['checks']['mirror'] == {
        'ok': False, 'detail': 'http://1.2.3.4:30020/v2/ HTTP 503'}


def test_report_of_a_host_not_in_hostvars_and_of_another_fact():
    assert readiness_report(['gone'], {}) == {'gone': {'ready': False,
                                                       'error': 'unreachable or failed before its checks ran'}}
    assert readiness_report(['node-a'], HOSTVARS, 'other') == {
        'node-a': {'ready': False, 'error': 'unreachable or failed before its checks ran'}}  # not a mapping


def test_table_as_the_playbook_printed_it():
    """The lines the Jinja version of playbooks/verify.yml printed for these nodes, byte for byte."""
    report = readiness_report(['node-a', 'node-bb-long-name', 'x'], HOSTVARS)
    assert readiness_table(report, CHECKS) == [
        'NODE               READY      config      restarted   cri         hosts_toml  mirror    ',
        'node-a             yes        ok          ok          ok          ok          ok        ',
        'node-bb-long-name  NO         ok          FAIL        ok          ok          FAIL      ',
        'x                  NO RESULT  -           -           -           -           -         ',
        'node-bb-long-name restarted: restart pending: x',
        'node-bb-long-name mirror: http://1.2.3.4:30020/v2/ HTTP 503',
        'x: unreachable or failed before its checks ran',
    ]


@pytest.mark.parametrize('ok, mark', [
    (True, 'ok'), ('True', 'ok'), ('true', 'ok'), ('yes', 'ok'), (1, 'ok'),
    (False, 'FAIL'), ('False', 'FAIL'), ('false', 'FAIL'), ('', 'FAIL'), (None, 'FAIL'), (0, 'FAIL'),
])
def test_ok_read_as_ansible_reads_a_boolean(ok, mark):
    """set_fact may leave a check's ok as a string ("False" is no success)."""
    report = {'n1': {'ready': ok, 'checks': {'cri': {'ok': ok, 'detail': 'why'}}}}
    lines = readiness_table(report, ['cri'])
    assert lines[1] == 'n1    %-9s  %-10s' % ('yes' if mark == 'ok' else 'NO', mark)
    assert lines[2:] == ([] if mark == 'ok' else ['n1 cri: why'])


def test_a_check_that_reported_nothing_fails_and_says_so():
    report = {'node-a': {'ready': False, 'checks': {'config': {'ok': True, 'detail': ''}, 'cri': {'ok': False}}}}
    assert readiness_table(report, ['config', 'cri', 'mirror'])[1:] == [
        'node-a  NO         ok          FAIL        FAIL      ',
        'node-a cri: this check reported nothing',
        'node-a mirror: this check reported nothing',
    ]


def test_short_names_keep_the_columns_aligned():
    lines = readiness_table({'a': readiness(True)}, CHECKS)
    assert lines[0].index('READY') == lines[1].index('yes') == len('NODE  ')


def test_no_nodes_is_a_header_only():
    assert readiness_table({}, ['cri']) == ['NODE  READY      cri       ']


@pytest.mark.parametrize('call, message', [
    (lambda: readiness_report('node-a', HOSTVARS), 'the input is the list of hosts'),
    (lambda: readiness_report(['node-a'], ['node-a']), 'the argument is hostvars, got list'),
    (lambda: readiness_table(['node-a'], CHECKS), 'the input is the report of readiness_report, got list'),
    (lambda: readiness_table({}, 'config'), 'check_names is a list of check names, got str'),
])
def test_wrong_inputs_are_named(call, message):
    with pytest.raises(AnsibleFilterError, match=message):
        call()
