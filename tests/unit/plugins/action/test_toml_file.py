# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""toml_file: options that are wrong whatever the node holds, and runs against real files."""

import pytest
from ansible.errors import AnsibleActionFail

from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.action.toml_file import check_options, normalise_mode


@pytest.mark.parametrize('mode, octal', [
    ('0644', '0644'), ('644', '0644'), ('0o644', '0644'), ('0600', '0600'),
    # YAML reads an unquoted 0644 as 420 and 420 as 420: ansible.builtin.copy takes an integer as the mode.
    (420, '0644'), (0o600, '0600'), (644, '1204'), (0, '0000'), (0o7777, '7777'), (None, None),
])
def test_mode_is_read_as_ansible_builtin_copy_reads_it(mode, octal):
    assert normalise_mode(mode, '/f.toml') == octal


@pytest.mark.parametrize('mode', ['u=rw,g=r,o=r', '0999', '', True, 0o10000, -1, 6.44, ['0644']])
def test_other_modes_are_refused_naming_the_file(mode):
    with pytest.raises(SpegelError, match=r"^/f.toml: mode must be octal"):
        normalise_mode(mode, '/f.toml')


@pytest.mark.parametrize('path, validate, message', [
    ('relative.toml', None, "path must be an absolute path such as /etc/containerd/config.toml, got 'relative.toml'"),
    ('./etc/config.toml', None, 'path must be an absolute path'),
    ('/etc/containerd/config.toml', 'containerd config dump', 'validate must contain %s'),
])
def test_options_refused_before_the_node_is_read(path, validate, message):
    with pytest.raises(SpegelError, match=message):
        check_options(path, validate)


def test_good_options_pass():
    check_options('/etc/containerd/config.toml', 'containerd --config %s config dump')
    check_options('/etc/containerd/config.toml', None)


# --- the action run against real files (conftest: node_files in this process) ----------------

SEED = '# hand-written\n[registry]\n  config_path = "/etc/docker/certs.d"  # old\n'


def test_a_validate_command_that_cannot_run_is_named_and_nothing_is_left(run_action, tmp_path):
    path = tmp_path / 'etc' / 'new' / 'config.toml'
    result = run_action('toml_file', dict(path=str(path), key=['version'], value=2, create=True,
                                          validate='/nonexistent/containerd --config %s config dump'))
    assert result['failed'] and not result['changed']
    assert result['msg'].startswith("%s: the validate command '/nonexistent/containerd --config %s config dump' "
                                    'cannot run' % (path, path)), result['msg']
    assert 'fix validate; nothing was written' in result['msg']
    assert list(tmp_path.iterdir()) == []


def test_a_key_is_set_in_one_read_and_one_write_then_left_alone(run_action, tmp_path):
    path = tmp_path / 'config.toml'
    path.write_text(SEED)
    args = dict(path=str(path), key=['registry', 'config_path'], value='/etc/containerd/certs.d')
    result = run_action('toml_file', args)
    assert result['changed'] and result['key'] == 'registry.config_path' and 'failed' not in result
    assert path.read_text() == SEED.replace('/etc/docker/certs.d', '/etc/containerd/certs.d')
    assert [sorted(call) for call in run_action.calls] == [
        ['containerd_version', 'read', 'read_globs'], ['remove', 'write']]
    again = run_action('toml_file', args)
    assert not again['changed'] and len(run_action.calls) == 3  # one read, no write


def test_check_mode_reports_the_change_with_secrets_masked_and_writes_nothing(run_action, tmp_path):
    path = tmp_path / 'config.toml'
    path.write_text('[auth]\n  password = "old-secret"\n')
    result = run_action('toml_file', dict(path=str(path), key=['auth', 'password'], value='new-secret'),
                        check_mode=True, diff=True)
    assert result['changed'] and path.read_text() == '[auth]\n  password = "old-secret"\n'
    assert 'secret' not in str(result['diff']) and '********' in result['diff']['after']
    assert len(run_action.calls) == 1


def test_a_missing_file_is_refused_unless_create(run_action, tmp_path):
    path = tmp_path / 'config.toml'
    result = run_action('toml_file', dict(path=str(path), key=['version'], value=2))
    assert result['failed'] and not result['changed']
    assert result['msg'] == '%s does not exist; set create: true to create it.' % path
    assert not path.exists()
    created = run_action('toml_file', dict(path=str(path), key=['version'], value=2, create=True, mode='0640'))
    assert created['changed'] and path.read_text() == 'version = 2\n' and oct(path.stat().st_mode)[-3:] == '640'


def test_a_bad_mode_is_refused_before_the_node_is_read(run_action, tmp_path):
    result = run_action('toml_file', dict(path=str(tmp_path / 'c.toml'), key=['a'], value=1, mode='rw-r--r--'))
    assert result['failed'] and 'mode must be octal' in result['msg'] and run_action.calls == []


def test_a_failed_validation_changes_nothing_and_shows_no_diff(run_action, tmp_path):
    path = tmp_path / 'config.toml'
    path.write_text(SEED)
    result = run_action('toml_file', dict(path=str(path), key=['registry', 'config_path'], value='/x',
                                          validate='false %s'), diff=True)
    assert result['failed'] and result['changed'] is False and 'diff' not in result
    assert str(path) in result['msg'] and path.read_text() == SEED
    assert sorted(p.name for p in tmp_path.iterdir()) == ['config.toml']  # no temporary file behind


def test_state_present_without_value_is_refused_by_the_argument_spec(run_action, tmp_path):
    with pytest.raises(AnsibleActionFail, match='state is present but all of the following are missing: value'):
        run_action('toml_file', dict(path=str(tmp_path / 'c.toml'), key=['a']))
    assert run_action.calls == []


# --- ansible.builtin.files' options (the real chattr and a bind mount: tests/real) ------------

def test_an_attributes_value_chattr_could_never_take_is_refused_before_the_node_is_read(run_action, tmp_path):
    path = tmp_path / 'c.toml'
    result = run_action('toml_file', dict(path=str(path), key=['a'], value=1, create=True, attributes='+i,A'))
    assert result['failed'] and not result['changed'] and run_action.calls == []
    assert result['msg'] == ("%s: attributes must be chattr's letters after an optional +, - or = (such as '+i', "
                             "'-i' or '+A'; see lsattr -d PATH), got '+i,A'. Nothing was changed." % path)
    assert not path.exists()


def test_a_mode_change_alone_is_reported_in_check_mode_with_a_diff_of_the_metadata(run_action, tmp_path):
    path = tmp_path / 'c.toml'
    path.write_text('a = 1\n')
    path.chmod(0o644)
    args = dict(path=str(path), key=['a'], value=1, mode='0600')
    checked = run_action('toml_file', args, check_mode=True, diff=True)
    assert checked['changed'] and oct(path.stat().st_mode)[-3:] == '644'
    assert checked['diff'] == {'before': {'path': str(path), 'mode': '0644'},
                               'after': {'path': str(path), 'mode': '0600'}}
    assert [sorted(call) for call in run_action.calls] == [['containerd_version', 'read', 'read_globs']]  # no lsattr
    assert run_action('toml_file', args)['changed'] and oct(path.stat().st_mode)[-3:] == '600'
    assert not run_action('toml_file', args)['changed']


def test_content_and_metadata_changes_show_two_diffs(run_action, tmp_path):
    path = tmp_path / 'c.toml'
    path.write_text('a = 1\n')
    path.chmod(0o644)
    result = run_action('toml_file', dict(path=str(path), key=['a'], value=2, mode='0640'), check_mode=True, diff=True)
    assert [diff['after'] for diff in result['diff']] == ['a = 2\n', {'path': str(path), 'mode': '0640'}]


def test_the_files_options_reach_the_node_and_unsafe_writes_only_when_true(run_action, tmp_path):
    """Unset, unsafe_writes is the node's ANSIBLE_UNSAFE_WRITES (node_files' fallback), as for ansible.builtin.copy."""
    path = tmp_path / 'c.toml'
    path.write_text('a = 1\n')
    selinux = dict(seuser='system_u', serole='object_r', setype='etc_t', selevel='s0')
    run_action('toml_file', dict(path=str(path), key=['a'], value=2, **selinux))
    assert run_action.calls[0]['read_attributes'] is True
    assert {name: run_action.calls[1]['write'][0][name] for name in selinux} == selinux
    assert 'unsafe_writes' not in run_action.calls[1]
    run_action('toml_file', dict(path=str(path), key=['a'], value=3, unsafe_writes=True))
    assert run_action.calls[3]['unsafe_writes'] is True and 'attributes' not in run_action.calls[3]['write'][0]
    assert 'read_attributes' not in run_action.calls[2]
