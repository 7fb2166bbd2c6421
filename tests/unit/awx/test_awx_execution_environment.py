# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The execution environment: ansible-builder finds the collection's controller-side
requirements, and the example definition (extensions/awx/execution-environment.yml)
becomes a build context that installs the collection built from this tree.

There is no container engine here, so the image is not built: `ansible-builder create`
writes the context, and the two stages of the Containerfile that matter to this
collection are replayed on this host with the context's own files: the galaxy stage's
`ansible-galaxy collection install -r requirements.yml` in `_build/`, and the builder
stage's `introspect.py`, whose pip requirements the image installs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
EE_FILE = REPO / 'extensions' / 'awx' / 'execution-environment.yml'
BIN = Path(sys.executable).parent
GALAXY = yaml.safe_load((REPO / 'galaxy.yml').read_text())
TARBALL = f"{GALAXY['namespace']}-{GALAXY['name']}-{GALAXY['version']}.tar.gz"
FQCN = f"{GALAXY['namespace']}.{GALAXY['name']}"


def run(*argv, cwd=None, env=None) -> str:
    result = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{' '.join(map(str, argv))} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope='module')
def context(tmp_path_factory):
    """The build context of the example definition, laid out as its README says:
    the collection built into collections/ next to the definition."""
    work = tmp_path_factory.mktemp('ee')
    shutil.copy(EE_FILE, work / EE_FILE.name)
    run(BIN / 'ansible-galaxy', 'collection', 'build', REPO, '--output-path', work / 'collections')
    run(BIN / 'ansible-builder', 'create', '-f', work / EE_FILE.name, '-c', work / 'context', '--output-filename', 'Containerfile')
    return work / 'context'


def test_introspect_finds_the_controller_requirements(tmp_path):
    """`ansible-builder introspect` reads meta/execution-environment.yml of the collection."""
    collections = tmp_path / 'ansible_collections' / GALAXY['namespace']
    collections.mkdir(parents=True)
    (collections / GALAXY['name']).symlink_to(REPO)
    out = yaml.safe_load(run(BIN / 'ansible-builder', 'introspect', tmp_path))
    requirements = (REPO / 'requirements.txt').read_text().split()
    assert any(line.startswith('tomlkit') for line in requirements)
    assert [line for line in out['python'] if line.startswith('tomlkit')] == [
        next(r for r in requirements if r.startswith('tomlkit')) + f'  # from collection {FQCN}']


def test_definition_names_the_tarball_of_this_version():
    definition = yaml.safe_load(EE_FILE.read_text())
    assert definition['version'] == 3
    assert definition['dependencies']['galaxy']['collections'] == [{'name': f'collections/{TARBALL}', 'type': 'file'}], (
        f'galaxy.yml is at {GALAXY["version"]}: name {TARBALL} in {EE_FILE.relative_to(REPO)}')


def test_context_installs_ansible_and_the_collection(context):
    containerfile = (context / 'Containerfile').read_text()
    assert 'ARG ANSIBLE_INSTALL_REFS="ansible-core>=2.17,<2.20 ansible-runner>=2.4"' in containerfile
    assert 'ansible-galaxy collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml' in containerfile
    assert 'introspect.py introspect --write-bindep=/tmp/src/bindep.txt --write-pip=/tmp/src/requirements.txt' in containerfile
    assert yaml.safe_load((context / '_build' / 'requirements.yml').read_text()) == {
        'collections': [{'name': f'collections/{TARBALL}', 'type': 'file'}]}
    assert (context / '_build' / 'collections' / TARBALL).is_file()


def test_image_build_would_install_the_collection_and_tomlkit(context, tmp_path):
    """The galaxy stage (WORKDIR /build, the context's _build) and the builder stage's
    introspection, on this host instead of in the image."""
    installed = tmp_path / 'usr-share-ansible-collections'
    # as in the image: no other collection path (the tests' own would hold this collection already)
    env = {**os.environ, 'ANSIBLE_COLLECTIONS_PATH': str(installed)}
    run(BIN / 'ansible-galaxy', 'collection', 'install', '-r', 'requirements.yml', '--collections-path', installed,
        cwd=context / '_build', env=env)
    collection = installed / 'ansible_collections' / GALAXY['namespace'] / GALAXY['name']
    for path in ('playbooks/site.yml', 'playbooks/verify.yml', 'playbooks/uninstall.yml',
                 'meta/execution-environment.yml', 'extensions/awx/surveys/site.json'):
        assert (collection / path).is_file(), f'{path} is not in the collection the image installs'
    pip = tmp_path / 'requirements.txt'
    run(sys.executable, context / '_build' / 'scripts' / 'introspect.py', 'introspect', installed, '--write-pip', pip,
        '--write-bindep', tmp_path / 'bindep.txt')
    assert [line.split()[0] for line in pip.read_text().splitlines() if line.startswith('tomlkit')] == ['tomlkit>=0.13']
