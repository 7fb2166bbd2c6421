# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""node_files as the action plugins use it: the optimistic lock, validate-only staging, globs,
NUL bytes, the containerd probes without containerd. With a real containerd on PATH:
tests/real/plugins/modules/test_node_files_round_trips.py."""

from __future__ import annotations

import sys
from pathlib import Path

from ansible_collections.peerpull.spegel.plugins.modules import node_files

sys.path.insert(0, str(Path(__file__).resolve().parent))
from node_files_runner import run, sha1  # noqa: E402  (this directory)


def test_a_file_changed_since_it_was_read_is_not_written(capsys, tmp_path):
    path = tmp_path / 'config.toml'
    path.write_text('changed by someone else\n')
    result = run(capsys, write=[dict(path=str(path), content='new\n', expected_checksum=sha1('as read\n'))])
    assert result['failed'] and not result['changed']
    assert result['msg'] == '%s changed on the node while this task ran; nothing was written. Run the task again.' % path
    assert path.read_text() == 'changed by someone else\n' and [p.name for p in tmp_path.iterdir()] == ['config.toml']


def test_a_file_that_appeared_since_it_was_read_absent_is_not_overwritten(capsys, tmp_path):
    path = tmp_path / 'hosts.toml'
    path.write_text('theirs\n')
    result = run(capsys, write=[dict(path=str(path), content='ours\n', expected_checksum='')])
    assert result['failed'] and 'changed on the node' in result['msg'] and path.read_text() == 'theirs\n'


def test_validate_only_stages_reports_the_output_and_leaves_nothing(capsys, tmp_path):
    path = tmp_path / 'config.toml'
    path.write_text('old\n')
    result = run(capsys, commit=False, write=[dict(path=str(path), content='new text\n', validate='wc -c %s')])
    assert not result['changed'] and result['written'] == []
    assert 'failed' not in result and [entry['path'] for entry in result['staged']] == [str(path)]
    assert result['staged'][0]['validate_stdout'].startswith('9 ')  # wc -c of the staged new text
    assert path.read_text() == 'old\n' and [p.name for p in tmp_path.iterdir()] == ['config.toml']


def test_a_failed_validation_names_the_file_and_leaves_nothing(capsys, tmp_path):
    path = tmp_path / 'config.toml'
    result = run(capsys, write=[dict(path=str(path), content='new\n', validate='false %s', expected_checksum='')])
    assert result['failed'] and str(path) in result['msg'] and not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_globs_list_their_files_and_read_them(capsys, tmp_path):
    for name in ('b.toml', 'a.toml', 'c.txt'):
        (tmp_path / name).write_text(name)
    (tmp_path / 'd.toml').mkdir()  # directories never match
    pattern = str(tmp_path / '*.toml')
    result = run(capsys, read_globs=[pattern])
    assert result['globs'] == {pattern: [str(tmp_path / 'a.toml'), str(tmp_path / 'b.toml')]}
    assert result['files'][str(tmp_path / 'a.toml')]['checksum'] == sha1('a.toml')


def test_a_nul_byte_in_a_path_is_refused_before_anything_is_read(capsys, tmp_path):
    result = run(capsys, read=[str(tmp_path / 'a\0b')])
    assert result['failed'] and 'NUL byte' in result['msg']


def test_without_containerd_the_probes_say_so(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv('PATH', str(tmp_path))
    monkeypatch.setattr(node_files, 'BIN_DIRS', [])
    config = tmp_path / 'config.toml'
    config.write_text('version = 2\n')
    result = run(capsys, containerd_version=True, config_dump=str(config))
    assert result['containerd'] == {'path': '', 'version_output': ''}
    assert result['config_dump']['skipped'] == 'containerd is not installed' and result['config_dump']['rc'] is None
