# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""toml_file's ansible.builtin.files options on real files: chattr attributes set by the real
chattr (root: +i needs CAP_LINUX_IMMUTABLE) on a file system that keeps them, and unsafe_writes
against a real bind-mounted file in a private mount namespace. SELinux is not tested: the
hosts these tests run on have it disabled. The options' pure parts: tests/unit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SEED = '# kept\n[server]\nworkers = 4\n'
SET_8 = SEED.replace('workers = 4', 'workers = 8')


def lsattr(path):
    done = subprocess.run(['lsattr', '-d', str(path)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail('lsattr cannot read attributes under %s (%s): these tests need a file system with chattr '
                    'attributes, such as ext4' % (path, done.stderr.strip()))
    return done.stdout.split()[0].replace('-', '')


@pytest.fixture
def toml(tmp_path):
    """A TOML file on a file system with chattr attributes; its immutable flag cleared afterwards."""
    if os.geteuid() != 0:
        pytest.fail('chattr +i needs root (CAP_LINUX_IMMUTABLE)')
    path = tmp_path / 'settings.toml'
    path.write_text(SEED)
    lsattr(path)
    yield path
    subprocess.run(['chattr', '-i', '-a', str(path)], check=False)


def args(path, **more):
    return dict(path=str(path), key=['server', 'workers'], value=8, **more)


def names(directory):
    return sorted(p.name for p in directory.iterdir())


def test_plus_i_is_set_then_left_alone_and_minus_i_in_check_mode_changes_nothing(run_action, toml):
    result = run_action('toml_file', args(toml, attributes='+i'))
    assert result['changed'] and 'failed' not in result
    assert toml.read_text() == SET_8 and 'i' in lsattr(toml)
    assert run_action.calls[0]['read_attributes'] is True

    again = run_action('toml_file', args(toml, attributes='+i'))
    assert not again['changed'] and 'failed' not in again
    assert len(run_action.calls) == 3  # the second run read, and wrote nothing

    checked = run_action('toml_file', args(toml, attributes='-i'), check_mode=True, diff=True)
    assert checked['changed'] and 'i' in lsattr(toml) and toml.read_text() == SET_8
    assert checked['diff'] == {'before': {'path': str(toml), 'attributes': lsattr(toml)},
                               'after': {'path': str(toml), 'attributes': lsattr(toml).replace('i', '')}}
    assert len(run_action.calls) == 4  # check mode: the read only


def test_an_immutable_file_fails_a_change_of_content_naming_the_fix_and_minus_i_then_clears_it(run_action, toml):
    assert run_action('toml_file', args(toml, attributes='+i'))['changed']
    before = names(toml.parent)

    refused = run_action('toml_file', dict(args(toml), value=16))
    assert refused['failed'] and not refused['changed']
    assert refused['msg'].startswith(str(toml) + ': cannot replace it: Operation not permitted: ')
    assert 'chattr -i -a %s' % toml in refused['msg'] and 'Nothing was changed.' in refused['msg']
    assert toml.read_text() == SET_8 and names(toml.parent) == before and 'i' in lsattr(toml)

    # The content unchanged: only the attribute, in place (a rename cannot replace an immutable file).
    cleared = run_action('toml_file', args(toml, attributes='-i'))
    assert cleared['changed'] and 'failed' not in cleared and 'i' not in lsattr(toml)
    assert not run_action('toml_file', args(toml, attributes='-i'))['changed']
    assert run_action('toml_file', dict(args(toml), value=16))['changed']


def test_an_attribute_survives_the_rename_of_new_content_and_runs_are_idempotent(run_action, toml):
    """+A with new content: the new inode gets it after the rename; ext4's e makes no difference."""
    assert 'e' in lsattr(toml)  # what makes ansible-core's text comparison report +A on every run
    result = run_action('toml_file', args(toml, attributes='+A'))
    assert result['changed'] and toml.read_text() == SET_8 and 'A' in lsattr(toml)
    assert not run_action('toml_file', args(toml, attributes='+A'))['changed']
    assert not run_action('toml_file', args(toml, attr='A' + lsattr(toml).replace('A', '')))['changed']
    # '=' (a bare A) leaves ext4's e, which chattr cannot clear, and so settles as well
    assert not run_action('toml_file', args(toml, attributes='A'))['changed'] and 'e' in lsattr(toml)

    checked = run_action('toml_file', args(toml, attributes='-A'), check_mode=True)
    assert checked['changed'] and 'A' in lsattr(toml)
    assert run_action('toml_file', args(toml, attributes='-A'))['changed'] and 'A' not in lsattr(toml)
    assert not run_action('toml_file', args(toml, attributes='-A'))['changed']


@pytest.mark.parametrize('value', [8, 16], ids=['attributes-only', 'new-content'])
def test_a_letter_chattr_refuses_names_the_file_and_chattrs_error_and_changes_nothing(run_action, toml, value):
    """Z is no chattr letter: chattr, on the node, is the judge. Mode and content go back."""
    if value == 8:
        assert run_action('toml_file', args(toml))['changed']
    content, mode = toml.read_bytes(), toml.stat().st_mode
    before = names(toml.parent)
    refused = run_action('toml_file', dict(args(toml), value=value, attributes='+Z', mode='0600'))
    assert refused['failed'] and not refused['changed']
    assert refused['msg'].startswith("%s: attributes '+Z': chattr failed (Error while setting attributes: " % toml)
    assert 'chattr [-RVf]' in refused['msg'] and 'use letters chattr takes on this file system' in refused['msg']
    assert refused['msg'].endswith('Nothing was changed.')
    assert toml.read_bytes() == content and toml.stat().st_mode == mode and names(toml.parent) == before


# --- unsafe_writes: a bind-mounted file, which no rename can replace (EBUSY) -------------------

IN_NAMESPACE = r"""
import json, subprocess, sys
sys.path[:0] = json.loads(sys.argv[1])
from action_runner import ActionRun
target, source, runs = sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
subprocess.run(['mount', '--bind', source, target], check=True)
results = [ActionRun()('toml_file', args) for args in runs]
print(json.dumps({'results': results, 'content': open(target).read()}))
"""


def bind_mounted_runs(tmp_path, runs):
    """The action's runs on tmp_path/settings.toml with another file bind-mounted on it, in a
    private mount namespace (the mount goes with it); the results and what the target shows."""
    target, source = tmp_path / 'settings.toml', tmp_path / 'mounted.toml'
    target.write_text('')
    source.write_text(SEED)
    runner = str(Path(__file__).resolve().parents[3] / 'unit' / 'plugins' / 'action')
    done = subprocess.run(['unshare', '--mount', '--propagation', 'private', '--', sys.executable, '-c', IN_NAMESPACE,
                           json.dumps([runner] + sys.path), str(target), str(source), json.dumps(runs)],
                          capture_output=True, text=True, timeout=120, check=False,
                          env=dict(os.environ, ANSIBLE_UNSAFE_WRITES='0'))
    if done.returncode != 0:
        pytest.fail('the run in a private mount namespace failed (it needs root and unshare): %s' % done.stderr)
    return json.loads(done.stdout), source


def test_a_bind_mounted_file_is_written_in_place_only_with_unsafe_writes(tmp_path):
    out, source = bind_mounted_runs(tmp_path, [args(tmp_path / 'settings.toml'),
                                               args(tmp_path / 'settings.toml', unsafe_writes=True)])
    refused, written = out['results']
    assert refused['failed'] and not refused['changed']
    assert refused['msg'].startswith('%s: cannot replace it: Device or resource busy: ' % (tmp_path / 'settings.toml'))
    assert 'unsafe_writes' in refused['msg'] and refused['msg'].endswith('Nothing was changed.')
    assert written['changed'] and 'failed' not in written
    assert out['content'] == SET_8 and source.read_text() == SET_8  # the mounted file, written in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ['mounted.toml', 'settings.toml']
