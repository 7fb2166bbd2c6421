# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Every module's DOCUMENTATION (what users read, ansible-doc renders) agrees with the argument
spec that runs: the action plugin's ARGUMENT_SPEC, or node_files' own AnsibleModule spec.

Compared per option, sub-options included: name, type, default, choices, elements, required,
aliases. ansible-test's validate-modules cannot do this for the action-backed modules: their
module files hold documentation only. A list of dicts whose fields the action checks in Python
(SUBOPTIONS_CHECKED_IN_PYTHON) must document exactly the fields that code accepts.
"""

import importlib
from pathlib import Path

import pytest
import yaml

from ansible_collections.peerpull.spegel.plugins.modules import node_files
from ansible_collections.peerpull.spegel.plugins.plugin_utils._containerd_plan import EXTRA_SETTING_FIELDS

COLLECTION = 'ansible_collections.peerpull.spegel.plugins'
PLUGINS = Path(__file__).resolve().parents[4] / 'plugins'
# Every action plugin, each with its module's documentation.
ACTION_MODULES = sorted(path.stem for path in (PLUGINS / 'action').glob('*.py') if path.stem != '__init__')
# (module, option): the fields its Python check accepts.
SUBOPTIONS_CHECKED_IN_PYTHON = {('containerd_config', 'extra_settings'): EXTRA_SETTING_FIELDS}


def documented_options(module_name):
    """The module's options, with those of its doc fragments, merged as ansible-doc merges them
    (plugin_docs.merge_fragment): per option, the module's own fields win over the fragment's."""
    doc = yaml.safe_load(importlib.import_module('%s.modules.%s' % (COLLECTION, module_name)).DOCUMENTATION)
    options = dict(doc.get('options') or {})
    for fragment in doc.get('extends_documentation_fragment', []):
        namespace, collection, name, *variant = fragment.split('.')
        package = ('%s.doc_fragments' % COLLECTION if (namespace, collection) == ('peerpull', 'spegel')
                   else 'ansible.plugins.doc_fragments')  # ansible.builtin.*
        source = importlib.import_module('%s.%s' % (package, name))
        text = getattr(source.ModuleDocFragment, variant[0].upper() if variant else 'DOCUMENTATION')
        for name, option in (yaml.safe_load(text).get('options') or {}).items():
            options[name] = dict(option, **options.get(name, {}))
    return options


def node_files_spec(monkeypatch):
    """node_files' spec as main() hands it to AnsibleModule."""
    captured = {}

    class Captured(Exception):
        pass

    def capture(**kwargs):
        captured.update(kwargs)
        raise Captured()

    monkeypatch.setattr(node_files, 'AnsibleModule', capture)
    with pytest.raises(Captured):
        node_files.main()
    return captured['argument_spec']


def normalised(options, nested):
    """The fields both sides state, per option; sub-options sit under `nested` (the spec's
    'options', the docs' 'suboptions')."""
    return {name: dict(
        type=option.get('type', 'str'),
        default=option.get('default'),
        choices=option.get('choices'),
        elements=option.get('elements'),
        required=bool(option.get('required', False)),
        aliases=sorted(option.get('aliases') or []),
        suboptions=normalised(option[nested], nested) if option.get(nested) else None,
    ) for name, option in options.items()}


def normalised_spec(spec):
    return normalised(spec, 'options')


def normalised_docs(options):
    return normalised(options, 'suboptions')


def disagreements(spec, docs, prefix='', checked_in_python=None):
    """'option: field: spec X, docs Y' for every difference."""
    checked_in_python = checked_in_python or {}
    found = []
    for name in sorted(set(spec) | set(docs)):
        if name not in docs:
            found.append('%s%s: in the spec, not documented' % (prefix, name))
        elif name not in spec:
            found.append('%s%s: documented, not in the spec' % (prefix, name))
        else:
            for field, value in spec[name].items():
                if field == 'suboptions' and value is None and name in checked_in_python:
                    if sorted(docs[name]['suboptions'] or {}) != sorted(checked_in_python[name]):
                        found.append('%s%s: suboptions: checked in Python %s, docs %s' % (
                            prefix, name, sorted(checked_in_python[name]), sorted(docs[name]['suboptions'] or {})))
                elif field == 'suboptions':
                    found += disagreements(value or {}, docs[name]['suboptions'] or {}, '%s%s.' % (prefix, name))
                elif value != docs[name][field]:
                    found.append('%s%s: %s: spec %r, docs %r' % (prefix, name, field, value, docs[name][field]))
    return found


@pytest.mark.parametrize('module_name', ACTION_MODULES)
def test_documentation_agrees_with_the_action_spec(module_name):
    action = importlib.import_module('%s.action.%s' % (COLLECTION, module_name)).ActionModule
    checked_in_python = {option: fields for (module, option), fields in SUBOPTIONS_CHECKED_IN_PYTHON.items()
                         if module == module_name}
    assert disagreements(normalised_spec(action.ARGUMENT_SPEC), normalised_docs(documented_options(module_name)),
                         checked_in_python=checked_in_python) == []


def test_documentation_agrees_with_the_node_files_spec(monkeypatch):
    spec = node_files_spec(monkeypatch)
    assert disagreements(normalised_spec(spec), normalised_docs(documented_options('node_files'))) == []


def test_a_disagreement_is_named():
    spec = normalised_spec(dict(mode=dict(type='raw'), state=dict(choices=['present', 'absent'], default='present')))
    docs = normalised_docs(dict(mode=dict(type='str'), state=dict(choices=['present'], default='present'),
                                extra=dict(type='bool')))
    assert disagreements(spec, docs) == [
        'extra: documented, not in the spec',
        "mode: type: spec 'raw', docs 'str'",
        "state: choices: spec ['present', 'absent'], docs ['present']",
    ]


def test_suboptions_checked_in_python_must_be_documented_as_accepted():
    spec = normalised_spec(dict(extra=dict(type='list', elements='dict')))
    docs = normalised_docs(dict(extra=dict(type='list', elements='dict', suboptions=dict(key={}, other={}))))
    assert disagreements(spec, docs, checked_in_python={'extra': ('key', 'value')}) == [
        "extra: suboptions: checked in Python ['key', 'value'], docs ['key', 'other']"]
    assert disagreements(spec, docs) == ['extra.key: documented, not in the spec', 'extra.other: documented, not in the spec']


def test_a_modules_own_option_overrides_its_fragments():
    """toml_file refuses symbolic modes, which ansible.builtin.files' mode offers: its own text wins;
    the options only the fragment documents (attributes, unsafe_writes, SELinux) come from it."""
    options = documented_options('toml_file')
    assert any('Symbolic modes' in line and 'refused' in line for line in options['mode']['description'])
    assert not any('symbolic mode' in line for line in options['mode']['description'])
    assert options['attributes']['aliases'] == ['attr'] and options['unsafe_writes']['default'] is False
    assert {'seuser', 'serole', 'setype', 'selevel', 'owner', 'group'} <= set(options)


def test_every_module_is_compared():
    modules = {path.stem for path in (PLUGINS / 'modules').glob('*.py') if path.stem != '__init__'}
    assert modules == set(ACTION_MODULES) | {'node_files'}
