# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""AWX's side of a job template run, without an AWX server: what the tests need of it.

There is no AWX here (no Kubernetes, no container engine), so this module does what AWX
does around ansible-runner, after AWX's own code (ansible/awx, awx/main/tasks/jobs.py,
awx/main/models/mixins.py, awx/api/views, awx/main/utils/safe_yaml.py):

- `survey_spec_errors`: the checks AWX's API makes when a survey spec is imported
  (POST /api/v2/job_templates/N/survey_spec/).
- `ui_answers` and `launch_extra_vars`: what a launch from AWX's UI sends for a survey
  (optional text left blank is sent as "", other optional questions left blank are not
  sent, integers are ints, multiselect answers are lists), and how AWX merges that with
  the job template's extra vars and the survey defaults, refusing answers of the wrong type.
- `prepare_job`: the private data directory AWX hands to ansible-runner: `project/` (a
  copy of the project), `inventory/hosts` (an executable script printing the inventory
  as JSON), `env/extravars` (every value of the launch `!unsafe`, as AWX writes it),
  `env/cmdline` (`-u root`, `--diff`, `--forks`, and `-e @env/tmpXXXX` for the extra vars
  a custom credential injects, a file of its own), `env/settings`; the environment
  variables AWX sets, and the machine credential's key handed to runner (ssh-agent).
- `run_job`: ansible-runner's Python API with an event handler that keeps, as AWX's
  callback receiver does, the `artifact_data` of the playbook_on_stats event: the job's
  artifacts (set_stats).

The job runs on this host, not in an execution environment container (there is no
container engine); runner's artifacts keep its stdout file, which AWX turns off.

    python tests/awx/awx_runner.py job --template site --work DIR --job-id 101 \
        --project extensions/awx/playbooks --survey extensions/awx/surveys/site.json \
        --answers answers.json --inventory fleet.yml [--credential-type FILE --credential FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

# AWX's survey question types and the Python type of their defaults (JobTemplateSurveySpec).
ALLOWED_TYPES = {
    'text': str, 'textarea': str, 'password': str,
    'multiplechoice': str, 'multiselect': str,
    'integer': int, 'float': (float, int),
}
TEXT_TYPES = ('text', 'textarea', 'password')
# AWX's settings that reach a job's environment (awx/settings/defaults.py), and its
# MAX_EVENT_RES_DATA.
AWX_ANSIBLE_SETTINGS = {
    'ANSIBLE_HOST_KEY_CHECKING': 'False',
    'ANSIBLE_PARAMIKO_RECORD_HOST_KEYS': 'False',
    'ANSIBLE_FORCE_COLOR': 'True',
    'ANSIBLE_INVENTORY_UNPARSED_FAILED': 'True',
}
MAX_EVENT_RES = '700000'


class LaunchRefused(Exception):
    """AWX would refuse this launch (survey answers of the wrong type, a required one missing)."""


# --- survey specs ---------------------------------------------------------------------

def _choices(question: dict) -> list[str]:
    choices = question.get('choices', [])
    return [c for c in choices.splitlines() if c.strip()] if isinstance(choices, str) else list(choices)


def survey_spec_errors(spec: dict) -> list[str]:
    """What AWX's API says about a survey spec it is asked to import (none: it imports)."""
    errors = []
    for field, want in (('name', str), ('description', str), ('spec', list)):
        if not isinstance(spec.get(field), want):
            errors.append(f"'{field}' missing or not a {want.__name__}")
    if errors:
        return errors
    if not spec['spec']:
        return ["'spec' doesn't contain any items"]
    seen = set()
    for idx, item in enumerate(spec['spec']):
        where = f"question {idx} ({item.get('variable', '?')})"
        for field, want in (('type', str), ('question_name', str), ('variable', str), ('required', bool)):
            if not isinstance(item.get(field), want):
                errors.append(f"{where}: '{field}' missing or not a {want.__name__}")
        if item.get('variable') in seen:
            errors.append(f"{where}: variable duplicated")
        seen.add(item.get('variable'))
        qtype = item.get('type')
        if qtype not in ALLOWED_TYPES:
            errors.append(f"{where}: type {qtype!r} is not one of {', '.join(ALLOWED_TYPES)}")
            continue
        default = item.get('default', '')
        if (default != '' and not isinstance(default, ALLOWED_TYPES[qtype])) or isinstance(default, bool):
            errors.append(f"{where}: default {default!r} is not of type {qtype}")
        for key in ('min', 'max'):
            if item.get(key) is not None and not isinstance(item[key], int):
                errors.append(f"{where}: {key} must be an integer")
        if qtype in ('multiplechoice', 'multiselect'):
            if 'choices' not in item:
                errors.append(f"{where}: a {qtype} question must list choices")
            defaults = [d for d in default.splitlines() if d.strip()] if isinstance(default, str) else default
            if qtype == 'multiplechoice' and len(defaults) > 1:
                errors.append(f"{where}: a multiplechoice question has one default")
            if any(d not in _choices(item) for d in defaults):
                errors.append(f"{where}: default {default!r} is not among the choices")
        if qtype == 'password' and default not in ('', None):
            errors.append(f"{where}: a password question's default would be stored in the spec")
    return errors


def _answer_errors(question: dict, data: dict) -> list[str]:
    """AWX's _survey_element_validation: the errors of one question's answer in `data`."""
    var, qtype = question['variable'], question['type']
    if var not in data:
        return [f"'{var}' value missing"] if question['required'] else []
    value = data[var]
    if qtype in TEXT_TYPES:
        if not isinstance(value, str):
            return [f"Value {value!r} for '{var}' expected to be a string."]
        errors = []
        if question.get('min') not in ('', None) and len(value) < int(question['min']):
            errors.append(f"'{var}' value {value!r} is too short (at least {question['min']})")
        if question.get('max') not in ('', None) and len(value) > int(question['max']):
            errors.append(f"'{var}' value {value!r} is too long (at most {question['max']})")
        return errors
    if qtype == 'integer':
        # AWX checks the exact type: a boolean is no integer
        if type(value) is not int:  # pylint: disable=unidiomatic-typecheck
            return [f"Value {value!r} for '{var}' expected to be an integer."]
        if question.get('min') not in ('', None) and value < int(question['min']):
            return [f"'{var}' value {value} is too small (must be at least {question['min']})"]
        if question.get('max') not in ('', None) and value > int(question['max']):
            return [f"'{var}' value {value} is too large (must be no more than {question['max']})"]
        return []
    if qtype == 'float':
        return [] if isinstance(value, (float, int)) else [f"Value {value!r} for '{var}' expected to be a numeric type."]
    if qtype == 'multiselect':
        if not isinstance(value, list):
            return [f"'{var}' value is expected to be a list."]
        return [f"Value {v!r} for '{var}' expected to be one of {_choices(question)}." for v in value if v not in _choices(question)]
    return [] if value in _choices(question) else [f"Value {value!r} for '{var}' expected to be one of {_choices(question)}."]


BLANK = object()  # ui_answers: the user cleared the field


def ui_answers(spec: dict, answers: dict) -> dict:
    """What AWX's UI sends for a survey the user filled in with `answers` (variable ->
    value, or BLANK for a field cleared), the rest left as pre-filled with the defaults."""
    sent = {}
    for question in spec['spec']:
        var, qtype = question['variable'], question['type']
        value = answers.get(var, question.get('default', ''))
        if qtype == 'multiselect' and isinstance(value, str):
            value = [v for v in value.splitlines() if v.strip()]
        if value is BLANK or value in ('', [], None):
            if question['required']:
                raise LaunchRefused(f"{var}: a required question left blank (the UI does not launch)")
            # AWX's docs: an optional text question left blank is sent as "" unless it has
            # a minimum length; any other optional question left blank is not sent.
            if qtype in ('text', 'textarea') and question.get('min') in (0, '', None):
                sent[var] = ''
            continue
        sent[var] = value
    return sent


def launch_extra_vars(spec: dict, sent: dict, template_extra_vars: dict | None = None) -> dict:
    """A job's extra vars as AWX makes them at launch: the job template's extra vars, then
    the survey defaults that pass the survey's own checks, then the answers sent (refused
    when one fails them, as AWX refuses the launch)."""
    errors = [e for question in spec['spec'] for e in _answer_errors(question, sent)]
    unknown = sorted(set(sent) - {q['variable'] for q in spec['spec']})
    if unknown:
        errors.append(f"variables {', '.join(unknown)} are not allowed on launch (no survey question asks for them)")
    if errors:
        raise LaunchRefused('; '.join(errors))
    extra_vars = dict(template_extra_vars or {})
    for question in spec['spec']:
        default = question.get('default')
        if default is not None and not _answer_errors(question, {question['variable']: default}):
            extra_vars[question['variable']] = default
    extra_vars.update(sent)
    return extra_vars


# --- the private data directory ---------------------------------------------------------

class _UnsafeDumper(yaml.SafeDumper):  # pylint: disable=too-many-ancestors
    """AWX's SafeStringDumper: every string becomes `!unsafe` (never templated by Ansible)."""

    def represent_data(self, data):
        if isinstance(data, str):
            return self.represent_scalar('!unsafe', data)
        return super().represent_data(data)


def safe_dump(variables: dict, safe: dict | None = None) -> str:
    """AWX's safe_dump: each top-level variable as YAML, `!unsafe` unless `safe` has it as is."""
    safe = safe or {}
    return ''.join(
        yaml.dump_all([{key: value}], Dumper=yaml.SafeDumper if safe.get(key, object()) == value else _UnsafeDumper,
                      default_flow_style=False)
        for key, value in variables.items()
    )


def _write_private(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(mode=0o700, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def inject_credential(credential_type: dict, inputs: dict, private_data_dir: Path, args: list, env: dict) -> None:
    """A custom credential type's injectors, as AWX applies them: `env` into the job's
    environment, `extra_vars` rendered into a file of their own under env/ passed with
    `-e @FILE` on the command line (so they come before env/extravars)."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment  # pylint: disable=import-outside-toplevel

    jinja = ImmutableSandboxedEnvironment()

    def render(node):
        if isinstance(node, dict):
            return {render(k): render(v) for k, v in node.items()}
        if isinstance(node, list):
            return [render(v) for v in node]
        return jinja.from_string(node).render(**inputs)

    injectors = credential_type.get('injectors', {})
    env.update({name: render(template) for name, template in injectors.get('env', {}).items()})
    extra_vars = render(injectors.get('extra_vars', {}))
    if extra_vars:
        handle, name = tempfile.mkstemp(dir=private_data_dir / 'env')
        with os.fdopen(handle, 'w') as file:
            file.write(safe_dump(extra_vars))
        os.chmod(name, stat.S_IRUSR)
        args.extend(['-e', f'@{name}'])


def _inventory_script(inventory: Path) -> tuple[str, str]:
    """(AWX's inventory/hosts script for `inventory`, the SSH key its hosts use). The key
    is left out of the host variables: AWX's machine credential hands it to ssh-agent."""
    listing = json.loads(subprocess.run(
        [str(Path(sys.executable).parent / 'ansible-inventory'), '-i', str(inventory), '--list'],
        capture_output=True, text=True, check=True,
    ).stdout)
    keys = {hv.pop('ansible_ssh_private_key_file') for hv in listing['_meta']['hostvars'].values()
            if 'ansible_ssh_private_key_file' in hv}
    if len(keys) > 1:
        raise ValueError(f'{inventory}: one machine credential per job; its hosts use several keys: {sorted(keys)}')
    script = '#! /usr/bin/env python3\n# -*- coding: utf-8 -*-\nprint(%r)\n' % json.dumps(listing)
    return script, (Path(keys.pop()).read_text() if keys else '')


def prepare_job(*, work: Path, job_id: int, template: str, project: Path, inventory: Path, extra_vars: dict,
                template_extra_vars: dict | None = None, credential: tuple[dict, dict] | None = None,
                diff: bool = False, forks: int = 5) -> dict:
    """Lay out the private data directory as AWX does; ansible_runner.run()'s arguments."""
    private_data_dir = Path(tempfile.mkdtemp(prefix=f'awx_{job_id}_', dir=work))
    private_data_dir.chmod(0o700)
    for sub in ('inventory', 'env'):
        (private_data_dir / sub).mkdir()
    shutil.copytree(project, private_data_dir / 'project')

    meta = {}
    for prefix in ('awx', 'tower'):
        meta.update({f'{prefix}_job_id': job_id, f'{prefix}_job_launch_type': 'manual', f'{prefix}_user_name': 'admin',
                     f'{prefix}_job_template_id': job_id // 100, f'{prefix}_job_template_name': f'peerpull.spegel {template}'})
    # JT extra vars are trusted (Jinja allowed); what the launch brought is !unsafe.
    _write_private(private_data_dir / 'env' / 'extravars',
                   safe_dump({**extra_vars, **meta}, safe=template_extra_vars or {}), 0o400)

    env = {**AWX_ANSIBLE_SETTINGS, 'JOB_ID': str(job_id), 'INVENTORY_ID': '1', 'ANSIBLE_RETRY_FILES_ENABLED': 'False',
           'MAX_EVENT_RES': MAX_EVENT_RES, 'AWX_HOST': 'https://awx.invalid',
           'AWX_PRIVATE_DATA_DIR': str(private_data_dir)}
    # AWX's private data directories live in /tmp (AWX_ISOLATION_BASE_PATH), with the SSH
    # control sockets in them; under a deep `work` a socket path outgrows the 108 bytes a
    # Unix socket may have, so the sockets get a short directory in /tmp (run_job removes it).
    env['ANSIBLE_SSH_CONTROL_PATH_DIR'] = tempfile.mkdtemp(prefix=f'awx_{job_id}_cp_')

    args = ['-u', 'root']
    if diff:
        args.append('--diff')
    args.append(f'--forks={forks}')
    if credential:
        inject_credential(credential[0], credential[1], private_data_dir, args, env)
    _write_private(private_data_dir / 'env' / 'cmdline', subprocess.list2cmdline(args))
    _write_private(private_data_dir / 'env' / 'settings', json.dumps({
        'job_timeout': 0,
        'suppress_ansible_output': True,
        # AWX sets this True (it streams events instead); the tests read the stdout file.
        'suppress_output_file': False,
    }))
    script, ssh_key = _inventory_script(inventory)
    hosts = _write_private(private_data_dir / 'inventory' / 'hosts', script, 0o700)
    return {
        'ident': job_id,
        'private_data_dir': str(private_data_dir),
        'playbook': f'{template}.yml',
        'inventory': str(hosts),
        'ssh_key': ssh_key or None,
        'suppress_env_files': True,
        'envvars': env,
        'fact_cache_type': '',
    }


def run_job(params: dict) -> dict:
    """Run one prepared job with ansible-runner, as AWX does; its summary."""
    import ansible_runner  # pylint: disable=import-outside-toplevel

    seen = {'events': 0, 'artifacts': None, 'statuses': []}

    def event_handler(event):
        seen['events'] += 1
        if event.get('event_data', {}).get('artifact_data'):
            seen['artifacts'] = event['event_data']['artifact_data']
        return True  # runner keeps its job_events/*.json too

    def status_handler(status, runner_config):  # pylint: disable=unused-argument
        seen['statuses'].append(status['status'])

    start = time.monotonic()
    try:
        result = ansible_runner.run(
            **{k: v for k, v in params.items() if v is not None},
            quiet=True, event_handler=event_handler, status_handler=status_handler,
        )
    finally:
        shutil.rmtree(params['envvars']['ANSIBLE_SSH_CONTROL_PATH_DIR'], ignore_errors=True)
    return {
        'ident': params['ident'], 'private_data_dir': params['private_data_dir'],
        'artifact_dir': result.config.artifact_dir,
        'status': result.status, 'rc': result.rc, 'seconds': round(time.monotonic() - start, 1),
        'statuses': seen['statuses'], 'events_handled': seen['events'], 'artifacts': seen['artifacts'],
        'stats': result.stats,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='command', required=True)
    job = sub.add_parser('job', help='launch a job template from its survey answers and run it with ansible-runner')
    job.add_argument('--template', required=True, help='playbook of the project, without .yml')
    job.add_argument('--work', required=True, type=Path, help='where the private data directory is made')
    job.add_argument('--job-id', required=True, type=int)
    job.add_argument('--project', required=True, type=Path)
    job.add_argument('--inventory', required=True, type=Path)
    job.add_argument('--survey', required=True, type=Path, help='survey spec (JSON)')
    job.add_argument('--answers', type=Path, help='JSON: variable -> answer; null clears a pre-filled field')
    job.add_argument('--credential-type', type=Path, help='custom credential type (JSON)')
    job.add_argument('--credential', type=Path, help='JSON: the credential\'s inputs')
    job.add_argument('--diff', action=argparse.BooleanOptionalAction, default=False, help='the job template\'s "Show changes"')
    job.add_argument('--summary', type=Path, help='write the job\'s summary (JSON) here')
    args = parser.parse_args(argv)

    spec = json.loads(args.survey.read_text())
    errors = survey_spec_errors(spec)
    if errors:
        parser.error(f'{args.survey}: AWX would not import it: {"; ".join(errors)}')
    answers = {k: BLANK if v is None else v for k, v in json.loads(args.answers.read_text()).items()} if args.answers else {}
    extra_vars = launch_extra_vars(spec, ui_answers(spec, answers))
    credential = None
    if args.credential_type:
        credential = (json.loads(args.credential_type.read_text()), json.loads(args.credential.read_text()))
    params = prepare_job(work=args.work, job_id=args.job_id, template=args.template, project=args.project,
                         inventory=args.inventory, extra_vars=extra_vars, credential=credential, diff=args.diff)
    summary = run_job(params)
    summary['template'] = args.template
    summary['extra_vars'] = extra_vars
    text = json.dumps(summary, indent=2, default=str)
    if args.summary:
        args.summary.write_text(text + '\n')
    print(text)
    return 0 if summary['status'] == 'successful' else 1


if __name__ == '__main__':
    sys.exit(main())
