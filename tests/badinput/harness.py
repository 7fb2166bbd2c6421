# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The bad-input suite's harness: every case in one real ansible-playbook run.

A case names a module (or role) and its arguments, the files its scratch directory starts
with, and the outcome it must have. The harness lays out every case's directory, records
each tree (type, bytes, mode, link target of every entry), runs ONE playbook in which each
case is a block whose failure is rescued and recorded, and records the trees again. The
tests then judge each case:

  refused   the task failed; its message holds every `message` fragment; the tree is
            byte for byte and mode for mode as it was, and nothing new is on disk
  changed   the task changed something and every entry it left is in `written` or was
            there before (no temporary file); `judge` may check the result further
  ok        the task succeeded without a change and the tree is as it was

A role case (`role:FQCN[:tasks_from]`, arguments as role variables) is judged by its tree
only: include_role's own result says nothing of what the role's tasks changed.

For every case, no `secrets` string appears anywhere: result, message, diff (the run uses
--diff) or the playbook's whole output.

Placeholders: `{dir}` in arguments, messages and link targets is the case's directory.
`containerd` puts that family's real binaries first on PATH, so validation runs the real
containerd; `prepare`/`cleanup` run as root around the playbook (mounts, chattr).

`node_paths` is for adapters whose paths are fixed (k0s's /etc/k0s, nodeadm's /etc/eks): the
case's task runs in a mount namespace of its own, where each node path is the case directory's
subdirectory bound there, over a throwaway overlay of the rest of /etc (or /run); nothing the
task writes reaches the host's own /etc. Anything written outside the bound paths is reported.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / 'tests' / 'containerd'))
import binaries  # noqa: E402  pylint: disable=wrong-import-position

TASK_TIMEOUT = 60  # seconds; a case that blocks (a FIFO read) fails instead of hanging the run


@dataclasses.dataclass(frozen=True)
class Fifo:
    """A named pipe where a file is expected."""


@dataclasses.dataclass(frozen=True)
class Link:
    target: str  # may contain {dir}


@dataclasses.dataclass(frozen=True)
class File:
    content: str | bytes
    mode: int = 0o644


@dataclasses.dataclass(frozen=True)
class Dir:
    mode: int = 0o755


Entry = 'str | bytes | File | Dir | Link | Fifo'


@dataclasses.dataclass
class Case:
    id: str
    module: str  # a module's FQCN, or "role:FQCN[:entry_point]"
    args: dict[str, Any]
    expect: str  # refused | changed | ok
    files: dict[str, Any] = dataclasses.field(default_factory=dict)  # relative path -> Entry
    message: tuple[str, ...] = ()  # fragments of the failure message (refused)
    written: tuple[str, ...] = ()  # relative paths a changed case may create or change
    secrets: tuple[str, ...] = ()  # strings that must appear nowhere in the output
    containerd: str | None = None  # family whose binaries go first on PATH
    check_mode: bool = False
    judge: Callable[[Path, dict, str | None], None] | None = None  # (dir, result, ctr bin dir)
    prepare: Callable[[Path], None] | None = None  # runs after the files are laid out
    cleanup: Callable[[Path], None] | None = None  # always runs after the playbook
    why: str = ''  # what real-world mistake the case stands for
    node_paths: dict[str, str] = dataclasses.field(default_factory=dict)  # node dir -> relative dir bound there


def _fill(value: Any, directory: Path) -> Any:
    if isinstance(value, str):
        return value.replace('{dir}', str(directory))
    if isinstance(value, list):
        return [_fill(item, directory) for item in value]
    if isinstance(value, tuple):
        return tuple(_fill(item, directory) for item in value)
    if isinstance(value, dict):
        return {_fill(k, directory): _fill(v, directory) for k, v in value.items()}
    return value


def lay_out(directory: Path, files: dict[str, Any]) -> None:
    directory.mkdir(parents=True)
    for relative, entry in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(entry, (str, bytes)):
            entry = File(entry)
        if isinstance(entry, File):
            data = entry.content.encode() if isinstance(entry.content, str) else entry.content
            path.write_bytes(data)
            path.chmod(entry.mode)
        elif isinstance(entry, Dir):
            path.mkdir(exist_ok=True)
            path.chmod(entry.mode)
        elif isinstance(entry, Link):
            path.symlink_to(_fill(entry.target, directory))
        elif isinstance(entry, Fifo):
            os.mkfifo(path)
        else:
            raise TypeError(f'{relative}: unknown entry {entry!r}')


def snapshot(directory: Path) -> dict[str, tuple]:
    """Relative path -> (type, mode, bytes or link target) of every entry under directory."""
    tree = {}
    for root, dirs, names in os.walk(directory):
        for name in dirs + names:
            path = Path(root, name)
            info = path.lstat()
            kind = stat.S_IFMT(info.st_mode)
            if stat.S_ISREG(kind):
                body: Any = path.read_bytes()
            elif stat.S_ISLNK(kind):
                body = os.readlink(path)
            else:
                body = None
            tree[str(path.relative_to(directory))] = (kind, stat.S_IMODE(info.st_mode), body)
    return tree


def _case_tasks(case: Case, directory: Path, result_file: Path, bin_dir: str | None) -> list:
    args = _fill(case.args, directory)
    if case.module.startswith('role:'):
        role, *entry = case.module.split(':')[1:]
        action: dict[str, Any] = {'ansible.builtin.include_role': {
            'name': role, **({'tasks_from': entry[0]} if entry else {})}}
        action['vars'] = args
    else:
        action = {case.module: args}
    action['name'] = f'case {case.id}'
    action['timeout'] = TASK_TIMEOUT
    action['register'] = 'case_result'
    if case.check_mode:
        action['check_mode'] = True
    if case.node_paths:
        action.setdefault('vars', {})['ansible_python_interpreter'] = str(_namespace_interpreter(case, directory))
    if bin_dir:
        action['environment'] = {'PATH': f'{bin_dir}:' + os.environ['PATH']}
    record = {'ansible.builtin.copy': {'dest': str(result_file), 'mode': '0600',
                                       'content': '{{ outcome | to_json }}'}}
    return [{
        'name': f'block {case.id}',
        'block': [action, {**record, 'name': f'record {case.id}', 'vars': {
            'outcome': '{{ case_result | combine({"failed": false}) }}'}}],
        'rescue': [{**record, 'name': f'record failure {case.id}', 'vars': {
            'outcome': '{{ ansible_failed_result | combine({"failed": true}) }}'}}],
    }]


def _overlays(case: Case, directory: Path) -> dict[str, Path]:
    """Top directory on the node (/etc, /run) -> the case's overlay directory for it."""
    tops = sorted({'/' + path.strip('/').split('/')[0] for path in case.node_paths})
    return {top: directory.parent.parent / 'namespaces' / case.id / top.strip('/') for top in tops}


def _namespace_interpreter(case: Case, directory: Path) -> Path:
    """A python that runs the module in a mount namespace where case.node_paths are the case's."""
    steps = []
    for top, overlay in _overlays(case, directory).items():
        (overlay / 'upper').mkdir(parents=True)
        (overlay / 'work').mkdir()
        steps.append('mount -t overlay overlay -o %s %s' % (shlex.quote(
            f'lowerdir={top},upperdir={overlay / "upper"},workdir={overlay / "work"}'), top))
    for node_path, relative in case.node_paths.items():
        (directory / relative).mkdir(parents=True, exist_ok=True)
        steps.append('mkdir -p %s; mount --rbind %s %s' % (
            shlex.quote(node_path), shlex.quote(str(directory / relative)), shlex.quote(node_path)))
    script = '; '.join(steps + ['exec "$0" "$@"'])
    wrapper = directory.parent.parent / 'namespaces' / case.id / 'python'
    wrapper.write_text('#!/bin/sh\n# %s: %s\nexec unshare --mount --propagation private -- /bin/sh -ec %s %s "$@"\n' % (
        case.id, ', '.join(f'{node} is {{dir}}/{rel}' for node, rel in case.node_paths.items()),
        shlex.quote(script), shlex.quote(sys.executable)))
    wrapper.chmod(0o755)
    return wrapper


def _written_outside(case: Case, directory: Path) -> list[str]:
    """What the case's task wrote on the node outside its bound paths (mount points aside)."""
    stray = []
    for top, overlay in _overlays(case, directory).items():
        for entry, _value in snapshot(overlay / 'upper').items():
            node_path = f'{top}/{entry}'
            if not (Path(overlay / 'upper' / entry).is_dir() and any(
                    bound == node_path or bound.startswith(node_path + '/') for bound in case.node_paths)):
                stray.append(node_path)
    return sorted(stray)


@dataclasses.dataclass
class Run:
    directory: dict[str, Path]
    before: dict[str, dict]
    after: dict[str, dict]
    results: dict[str, dict]
    output: str
    bin_dirs: dict[str, str]
    outside: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # case id -> node paths


def run_cases(cases: list[Case], scratch: Path) -> Run:
    ids = [case.id for case in cases]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise ValueError(f'case ids used twice: {sorted(duplicates)}')
    bin_dirs = {found.family: str(found.containerd.parent) for found in binaries.all_binaries()}
    directories, before, tasks = {}, {}, []
    results_dir = scratch / 'results'
    results_dir.mkdir()
    for case in cases:
        directory = scratch / 'cases' / case.id
        lay_out(directory, case.files)
        # The bound directories are made before the first snapshot.
        tasks += _case_tasks(case, directory, results_dir / f'{case.id}.json',
                             bin_dirs[case.containerd] if case.containerd else None)
        if case.prepare:
            case.prepare(directory)
        directories[case.id] = directory
        before[case.id] = snapshot(directory)
    playbook = scratch / 'cases.yml'
    playbook.write_text(yaml.safe_dump(
        [{'name': 'Bad input', 'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}],
        sort_keys=False))
    env = {**os.environ, 'ANSIBLE_NOCOLOR': '1', 'ANSIBLE_RETRY_FILES_ENABLED': '0',
           'ANSIBLE_LOCAL_TEMP': str(scratch / 'ansible-local'),
           'ANSIBLE_REMOTE_TEMP': str(scratch / 'ansible-remote'),
           'ANSIBLE_COLLECTIONS_PATH': str(REPO / '.build' / 'collections'),
           # Not an extra var: a node_paths case's task sets its own interpreter.
           'ANSIBLE_PYTHON_INTERPRETER': sys.executable}
    try:
        completed = subprocess.run(
            [str(Path(sys.executable).with_name('ansible-playbook')), '-i', 'localhost,', '-c',
             'local', '--diff', '-v', str(playbook)],
            env=env, capture_output=True, text=True, check=False)
    finally:
        for case in cases:
            if case.cleanup:
                case.cleanup(directories[case.id])
    output = completed.stdout + completed.stderr
    if completed.returncode != 0:
        raise RuntimeError(f'the bad-input playbook itself failed:\n{output[-4000:]}')
    results = {}
    for case in cases:
        recorded = results_dir / f'{case.id}.json'
        results[case.id] = json.loads(recorded.read_text()) if recorded.exists() else None
    after = {case.id: snapshot(directories[case.id]) for case in cases}
    outside = {case.id: _written_outside(case, directories[case.id]) for case in cases if case.node_paths}
    return Run(directories, before, after, results, output, bin_dirs, outside)


def judge(case: Case, run: Run) -> None:
    directory = run.directory[case.id]
    result = run.results[case.id]
    assert result is not None, f'{case.id}: no result recorded (the task hung or the block broke)'
    assert not run.outside.get(case.id), f'{case.id}: written outside its bound paths: {run.outside[case.id]}'
    before, after = run.before[case.id], run.after[case.id]
    message = str(result.get('msg', ''))
    if case.expect == 'refused':
        assert result['failed'], f'{case.id}: expected a refusal, got {result}'
        for fragment in _fill(case.message, directory):
            assert fragment in message, f'{case.id}: {fragment!r} not in message {message!r}'
        assert after == before, f'{case.id}: the tree changed: {_tree_diff(before, after)}'
    else:
        assert not result['failed'], f'{case.id}: failed: {message}'
        role = case.module.startswith('role:')
        if case.expect == 'ok':
            assert role or not result.get('changed'), f'{case.id}: expected no change, got {result}'
            assert after == before, f'{case.id}: the tree changed: {_tree_diff(before, after)}'
        else:
            assert role or result.get('changed'), f'{case.id}: expected a change, got {result}'
            assert after != before, f'{case.id}: expected a change, the tree is as it was'
            allowed = set(before) | set(case.written)
            stray = sorted(set(after) - allowed)
            assert not stray, f'{case.id}: entries nobody asked for: {stray}'
    text = json.dumps(result) + run.output
    for secret in case.secrets:
        assert secret not in json.dumps(result), f'{case.id}: a secret is in the result'
        assert secret not in text, f'{case.id}: a secret is in the playbook output'
    if case.judge:
        case.judge(directory, result, run.bin_dirs.get(case.containerd or ''))


def left_with_warning(path: str) -> Callable[[Path, dict, str | None], None]:
    """A judge: nothing written, and the one warning names path as left alone (remove_if_ours)."""
    def judge_result(_directory: Path, result: dict, _bin_dir: str | None) -> None:
        assert result['files'] == [] and not result['restart_required']
        (warning,) = result['warnings']
        assert warning.startswith(f'{path} is not what this collection writes'), warning
    return judge_result


def _tree_diff(before: dict, after: dict) -> str:
    lines = []
    for path in sorted(set(before) | set(after)):
        if before.get(path) != after.get(path):
            was = before.get(path)
            now = after.get(path)
            lines.append(f'{path}: {_describe(was)} -> {_describe(now)}')
    return '; '.join(lines)


def _describe(entry: tuple | None) -> str:
    if entry is None:
        return 'absent'
    kind, mode, body = entry
    size = f', {len(body)} bytes' if isinstance(body, bytes) else ''
    return f'{stat.filemode(kind | mode)}{size}'
