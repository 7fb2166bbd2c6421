# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The AWX survey specs and the credential type in extensions/awx, against the roles'
argument specs (roles/*/meta/argument_specs.yml) and the playbooks' extra vars.

A survey answer becomes an extra var, which outranks every role default: each question
must name a variable its playbook reads, offer the type AWX can send for it, pre-fill the
role's default, and never arrive blank where blank is not "unset". The answers AWX's UI
sends are put through the roles' own argument validation (what runs when a role starts).
"""

from __future__ import annotations

import ast
import base64
import json
import re
import sys
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.parsing.utils.yaml import from_yaml
from jinja2 import Environment, meta

REPO = Path(__file__).resolve().parents[3]
AWX = REPO / 'extensions' / 'awx'
sys.path.insert(0, str(REPO / 'tests' / 'awx'))
# pylint: disable=wrong-import-position
from awx_runner import (  # noqa: E402
    BLANK, LaunchRefused, inject_credential, launch_extra_vars, safe_dump, survey_spec_errors, ui_answers,
)
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_names import authorization_header  # noqa: E402

TEMPLATES = ('site', 'verify', 'uninstall')
# Set per node, never for a whole job: an AWX survey answer would give every node the
# same value (one node IP, one containerd version for the whole fleet).
PER_HOST = {'spegel_node_ip', 'mirror_node_ip', 'mirror_urls', 'containerd_version', 'mirror_containerd_version'}
# Only the rollout needs these; verify must be asked everything else site asks, as it
# checks the nodes against what site would write.
ROLLOUT_ONLY = {'spegel_serial', 'spegel_max_fail_percentage', 'containerd_restart', 'containerd_restart_timeout', 'mirror_backup'}
QUESTION_TYPES = {
    'bool': {'multiplechoice'},  # AWX has no boolean question: "true"/"false" choices
    'int': {'integer'},
    'str': {'text', 'textarea', 'multiplechoice'},
    'path': {'text', 'textarea'},
    'list': {'text', 'textarea', 'multiselect'},  # text: separated by commas or spaces
    'raw': {'text', 'textarea', 'multiplechoice'},
}


def _load_json(path: Path) -> dict:
    return json.loads(path.read_text())


SURVEYS = {name: _load_json(AWX / 'surveys' / f'{name}.json') for name in TEMPLATES}
CREDENTIAL_TYPES = {path.stem: _load_json(path) for path in sorted((AWX / 'credential_types').glob('*.json'))}


def role_entry_points() -> dict[tuple[str, str], dict]:
    """(role, entry point) -> its options, from roles/*/meta/argument_specs.yml."""
    out = {}
    for path in sorted(REPO.glob('roles/*/meta/argument_specs.yml')):
        for entry, spec in yaml.safe_load(path.read_text())['argument_specs'].items():
            out[(path.parts[-3], entry)] = spec.get('options', {})
    return out


ENTRY_POINTS = role_entry_points()


ROLE_IMPORTS = ('ansible.builtin.import_role', 'ansible.builtin.include_role')


def role_imports(tasks) -> list[tuple[str, str]]:
    """The (role, entry point) pairs a task list imports or includes."""
    found = []
    for task in tasks or []:
        for action in ROLE_IMPORTS:
            if action in task:
                found.append((task[action]['name'].rsplit('.', 1)[-1], task[action].get('tasks_from', 'main')))
    return found


def with_nested(entry: tuple[str, str]) -> list[tuple[str, str]]:
    """entry, and the entry points its tasks import (the mirror role's plan runs the containerd role's)."""
    role, tasks_from = entry
    tasks = yaml.safe_load((REPO / 'roles' / role / 'tasks' / f'{tasks_from}.yml').read_text())
    return [entry] + [nested for imported in role_imports(tasks) for nested in with_nested(imported)]


def playbook_entry_points(template: str) -> list[tuple[str, str]]:
    """The (role, entry point) pairs a playbook of playbooks/ runs, with those they run in turn."""
    used = []
    for play in yaml.safe_load((REPO / 'playbooks' / f'{template}.yml').read_text()):
        entries = [(role['role'].rsplit('.', 1)[-1], 'main') for role in play.get('roles', [])]
        for entry in entries + role_imports(play.get('tasks')):
            used += with_nested(entry)
    return used


def playbook_vars(template: str) -> dict[str, tuple[object, bool]]:
    """A playbook's own extra vars: name -> (its default, whether blank falls back to it
    (`default(X, true)`))."""
    text = (REPO / 'playbooks' / f'{template}.yml').read_text()
    found = {}
    for name, default, blank in re.findall(r"(?<![.\w])(spegel_\w+) \| default\(([^,()]+)(, true)?\)", text):
        found[name] = (ast.literal_eval(default.replace('true', 'True').replace('false', 'False')), bool(blank))
    return found


def options_of(template: str) -> dict[str, dict]:
    """Every variable a playbook reads from extra vars -> its argument spec (the playbook's
    own variables get one made from their default)."""
    options = {}
    for entry in playbook_entry_points(template):
        options.update(ENTRY_POINTS[entry])
    for name, (default, blank_is_default) in playbook_vars(template).items():
        options[name] = {'type': type(default).__name__, 'default': default, 'blank_is_default': blank_is_default}
    return options


def questions(template: str):
    return [pytest.param(template, q, id=f"{template}-{q['variable']}") for q in SURVEYS[template]['spec']]


ALL_QUESTIONS = [p for t in TEMPLATES for p in questions(t)]


def _multi(default) -> list[str]:
    return [d for d in default.splitlines() if d.strip()] if isinstance(default, str) else list(default)


# --- the files are what AWX imports ---------------------------------------------------------

@pytest.mark.parametrize('template', TEMPLATES)
def test_survey_spec_imports_into_awx(template):
    assert not survey_spec_errors(SURVEYS[template])


@pytest.mark.parametrize('template', TEMPLATES)
def test_survey_has_a_project_playbook_that_runs_the_collections(template):
    play = yaml.safe_load((AWX / 'playbooks' / f'{template}.yml').read_text())
    assert [p['ansible.builtin.import_playbook'] for p in play] == [f'peerpull.spegel.{template}']
    assert (REPO / 'playbooks' / f'{template}.yml').is_file()


def test_playbooks_extra_vars_are_documented_in_the_readme():
    readme = (REPO / 'README.md').read_text()
    for template in TEMPLATES:
        for name in playbook_vars(template):
            assert f'| `{name}` |' in readme, f'{name} ({template}.yml) is not in the README table of playbook variables'


# --- each question against the variable it sets ----------------------------------------------

@pytest.mark.parametrize('template, question', ALL_QUESTIONS)
def test_question_sets_a_variable_the_playbook_reads(template, question):
    assert question['variable'] in options_of(template), (
        f"{question['variable']}: neither {template}.yml nor the role entry points it runs "
        f"({', '.join('/'.join(e) for e in playbook_entry_points(template))}) read it")


@pytest.mark.parametrize('template, question', ALL_QUESTIONS)
def test_question_type_fits_the_option(template, question):
    option = options_of(template)[question['variable']]
    otype = option.get('type', 'raw')
    if option.get('no_log'):
        assert question['type'] == 'password', f"{question['variable']} is a secret (no_log): ask it as a password"
        return
    assert otype != 'dict' and option.get('elements') != 'dict', f"{question['variable']}: AWX has no question for a {otype}"
    assert question['type'] in QUESTION_TYPES[otype], f"{question['variable']} is a {otype}, asked as {question['type']}"
    if otype == 'bool':
        assert sorted(question['choices']) == ['false', 'true']
    if option.get('choices'):
        assert set(_multi(question.get('choices', []))) <= {str(c) for c in option['choices']}


@pytest.mark.parametrize('template, question', ALL_QUESTIONS)
def test_question_prefills_the_roles_default(template, question):
    """A launch with the survey as it comes behaves like the playbook without extra vars."""
    if 'default' not in question:
        assert not question['required']  # left unanswered, it is not sent: the role's default holds
        return
    option = options_of(template)[question['variable']]
    default, wanted = question['default'], option.get('default')
    if question['type'] == 'multiselect':
        assert _multi(default) == [str(v) for v in wanted]
    elif option.get('type') == 'list':
        assert re.findall(r'[^,\s]+', default) == [str(v) for v in wanted]
    elif option.get('type') == 'bool':
        assert default == str(wanted).lower()
    else:
        assert default == wanted


@pytest.mark.parametrize('template, question', ALL_QUESTIONS)
def test_question_is_never_blank_where_blank_is_not_unset(template, question):
    """AWX sends an optional text question left blank as "" (unless it has a minimum
    length), written `!unsafe ''` in env/extravars, which ansible-core 2.19 loads as None.
    Only a playbook variable read with `default(X, true)` takes both as "the default";
    a role option's argument validation refuses None (see the next tests). Any other
    text question is required, with a minimum length of 1."""
    blank_possible = question['type'] in ('text', 'textarea') and not question['required'] and not question.get('min')
    if not blank_possible:
        return
    option = options_of(template)[question['variable']]
    assert option.get('blank_is_default'), (
        f"{question['variable']} may be sent blank, which its role does not take as its default "
        f"({option.get('default')!r}): make the question required with a minimum length of 1")


# --- the surveys together ---------------------------------------------------------------------

def test_a_variable_is_asked_the_same_way_in_every_survey():
    asked = {}
    for template in TEMPLATES:
        for question in SURVEYS[template]['spec']:
            same = {k: v for k, v in question.items() if k != 'question_description'}
            asked.setdefault(question['variable'], (template, same))
            assert same == asked[question['variable']][1], f"{question['variable']}: {template} differs from {asked[question['variable']][0]}"


def test_verify_asks_everything_site_configures():
    site = {q['variable'] for q in SURVEYS['site']['spec']}
    verify = {q['variable'] for q in SURVEYS['verify']['spec']}
    assert site - ROLLOUT_ONLY <= verify, f'verify would check the nodes against other settings: {sorted(site - ROLLOUT_ONLY - verify)}'


def test_no_survey_asks_for_a_per_host_variable():
    for template in TEMPLATES:
        asked = {q['variable'] for q in SURVEYS[template]['spec']}
        assert not asked & PER_HOST, f'{template}: {sorted(asked & PER_HOST)} differ per node: set them as host variables'


# --- AWX's answers through the roles' argument validation ---------------------------------------

def launches(template: str) -> dict[str, dict]:
    """The extra vars of a few launches from AWX's UI: as pre-filled, with every optional
    question cleared, and with the other choice of every question plus list answers typed
    as a person would."""
    spec = SURVEYS[template]
    other = {}
    for q in spec['spec']:
        if q['type'] == 'multiplechoice':
            other[q['variable']] = next(c for c in _multi(q['choices']) if c != q.get('default'))
        elif q['type'] == 'multiselect':
            other[q['variable']] = _multi(q['choices'])[:1]
    other.update({k: v for k, v in {'mirror_registries': 'docker.io, ghcr.io registry.example:5000',
                                    'mirror_ports': '30020, 30021', 'spegel_serial': '2'}.items()
                  if k in {q['variable'] for q in spec['spec']}})
    cleared = {q['variable']: BLANK for q in spec['spec'] if not q['required']}
    return {name: launch_extra_vars(spec, ui_answers(spec, answers))
            for name, answers in (('prefilled', {}), ('cleared', cleared), ('other answers', other))}


@pytest.mark.parametrize('template', TEMPLATES)
def test_awx_answers_pass_the_roles_argument_validation(template):
    """Each launch's extra vars as the job reads them: written by AWX (every string
    `!unsafe`), loaded by ansible-core's own YAML loader, then validated as each role
    entry point of the playbook validates its variables when it starts."""
    for launch, sent in launches(template).items():
        extra_vars = from_yaml(safe_dump(sent))
        for entry in playbook_entry_points(template):
            options = ENTRY_POINTS[entry]
            given = {k: v for k, v in extra_vars.items() if k in options}
            result = ArgumentSpecValidator(options).validate(given, validate_role_argument_spec=True)
            assert not result.error_messages, f'{template} ({launch}) -> {"/".join(entry)}: {result.error_messages}'


@pytest.mark.parametrize('template', TEMPLATES)
def test_awx_refuses_answers_of_the_wrong_type(template):
    """The launch emulation is as strict as AWX: a boolean question takes only its choices."""
    spec = SURVEYS[template]
    boolean = next(q['variable'] for q in spec['spec'] if q['type'] == 'multiplechoice' and q['required'])
    with pytest.raises(LaunchRefused):
        launch_extra_vars(spec, {**ui_answers(spec, {}), boolean: 'yes'})
    with pytest.raises(LaunchRefused):
        ui_answers(spec, {boolean: BLANK})


# --- the credential type ------------------------------------------------------------------------

def _no_log_options() -> set[str]:
    return {name for options in ENTRY_POINTS.values() for name, spec in options.items() if spec.get('no_log')}


@pytest.mark.parametrize('name', sorted(CREDENTIAL_TYPES))
def test_credential_type_injects_its_secrets_into_no_log_options_only(name):
    ctype = CREDENTIAL_TYPES[name]
    assert ctype['kind'] in ('cloud', 'net') and ctype['name'] and ctype['description']
    fields = {f['id']: f for f in ctype['inputs']['fields']}
    assert set(ctype['inputs'].get('required', [])) <= set(fields)
    assert all(f['type'] in ('string', 'boolean') and f['label'] for f in fields.values())
    injected = ctype['injectors'].get('extra_vars', {})
    assert set(injected) <= _no_log_options(), f'{sorted(set(injected) - _no_log_options())} would be logged'
    assert not ctype['injectors'].get('env'), 'the roles read no environment variable'

    def templates(node):
        if isinstance(node, dict):
            return [t for v in node.values() for t in templates(v)]
        return [node]
    jinja = Environment()
    for template in templates(injected):
        assert meta.find_undeclared_variables(jinja.parse(template)) <= set(fields), template
    secret_fields = {i for i, f in fields.items() if f.get('secret')}
    assert secret_fields, 'a credential type without a secret field belongs in a survey'


@pytest.mark.parametrize('password', ['0123', '0x1f', '12_34', '1.10', '1e3', 'true', 'on', 'null', '~', '',
                                      'a\'b"c\\d', 'p\u00e4ss w\u00f6rd', '{{ lookup("env", "HOME") }}'])
def test_the_credential_reaches_the_header_as_typed_whatever_it_looks_like(password, tmp_path):
    """AWX renders the injector, writes its extra vars with safe_dump (`!unsafe`), and ansible-core
    2.19 reads them by their look: a password given as it is would arrive as 83, 31, 1.1, True...
    The credential type hands username and password over as JSON strings (encoding json)."""
    (tmp_path / 'env').mkdir()
    args = []
    inject_credential(CREDENTIAL_TYPES['spegel_mirror_basic_auth'], {'username': '0777', 'password': password},
                      tmp_path, args, {})
    loaded = from_yaml(Path(args[1][1:]).read_text())
    expected = 'Basic ' + base64.b64encode(('0777:' + password).encode()).decode()
    assert authorization_header(loaded['mirror_authorization'], 'mirror_authorization') == expected


def test_no_survey_asks_for_what_the_credential_injects():
    """AWX passes a credential's extra vars before the launch's (env/cmdline's `-e @file`
    comes before env/extravars): a survey answer, even a blank one, would replace them."""
    injected = {v for ctype in CREDENTIAL_TYPES.values() for v in ctype['injectors'].get('extra_vars', {})}
    for template in TEMPLATES:
        asked = {q['variable'] for q in SURVEYS[template]['spec']}
        assert not asked & injected, f'{template} asks for {sorted(asked & injected)}'
