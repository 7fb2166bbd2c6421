# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Bad input: secrets in the files this collection edits never reach a message, a diff or a
result, whatever TOML form they are written in (README "Bad input")."""

from __future__ import annotations

import tomllib
from pathlib import Path

from harness import Case

CONFIG = 'config.toml'
ORIGINAL = 'config.toml.peerpull-orig'
HOSTS = 'certs.d/docker.io/hosts.toml'
MIRROR = 'http://10.0.0.5:30020'
HOSTS_ARGS = {'hosts_dir': '{dir}/certs.d', 'registries': ['docker.io'], 'mirrors': [MIRROR],
              'containerd_version': '2.1.5'}

# A user's hosts.toml whose own mirror sends a secret header, in each TOML string form.
HEADER_FORMS = {
    'basic': ('Authorization = "Basic cGVlcnB1bGw6YmFzaWMtc2VjcmV0"', 'cGVlcnB1bGw6YmFzaWMtc2VjcmV0'),
    'literal': ("Authorization = 'Bearer literal-secret-token'", 'literal-secret-token'),
    'multiline-basic': ('Authorization = """\nBearer multiline-basic-secret"""', 'multiline-basic-secret'),
    'multiline-literal': ("Authorization = '''Bearer multiline-literal-secret'''", 'multiline-literal-secret'),
    'array': ('Authorization = ["Bearer array-secret-one", \'Bearer array-secret-two\']',
              'array-secret-one', 'array-secret-two'),
    'escaped': ('Authorization = "Bearer escaped-\\u0073ecret-token"', 'escaped-secret-token'),
    'api-key': ('X-Api-Key = "api-key-secret-value"', 'api-key-secret-value'),
    'auth-token': ('"X-Auth-Token" = "auth-token-secret-value"', 'auth-token-secret-value'),
    'proxy': ('Proxy-Authorization = "Basic cHJveHktc2VjcmV0LXZhbHVl"', 'cHJveHktc2VjcmV0LXZhbHVl'),
    'cookie': ('Cookie = "session=cookie-secret-value"', 'cookie-secret-value'),
}


def user_hosts(header_line: str) -> str:
    return ("server = 'https://registry-1.docker.io'\n\n"
            "[host.'https://mirror.example']\n  capabilities = ['pull', 'resolve']\n"
            f"  [host.'https://mirror.example'.header]\n    {header_line}\n")


def header_kept(directory: Path, result: dict, _bin_dir: str | None) -> None:
    hosts = tomllib.loads((directory / HOSTS).read_text())
    assert list(hosts['host']) == [MIRROR, 'https://mirror.example']
    assert result['diff'], 'the run uses --diff: the change must show, masked'


def header_case(form: str) -> Case:
    line, *secrets = HEADER_FORMS[form]
    return Case(
        id=f'sec-hosts-header-{form}', module='peerpull.spegel.containerd_hosts', args=dict(HOSTS_ARGS),
        expect='changed', files={HOSTS: user_hosts(line)}, written=(HOSTS,), secrets=tuple(secrets),
        judge=header_kept, why=f'a user-written hosts.toml with a secret header ({form}) gets the Spegel mirror')


INLINE_HEADER = ("[host.'https://mirror.example']\n  capabilities = ['pull']\n"
                 "  header = { Authorization = 'Bearer inline-table-secret' }\n")

CONFIG_WITH_AUTH = """version = 2

[plugins."io.containerd.grpc.v1.cri".registry.configs."registry.example".auth]
  username = "auth-user-name"
  password = "auth-password-value"
  auth = "YXV0aC11c2VyLW5hbWU6YXV0aC1wYXNzd29yZC12YWx1ZQ=="
  identitytoken = "identity-token-value"
"""
AUTH_SECRETS = ('auth-user-name', 'auth-password-value', 'YXV0aC11c2VyLW5hbWU6YXV0aC1wYXNzd29yZC12YWx1ZQ==',
                'identity-token-value')

LEGACY_WITH_URL_CREDENTIALS = """version = 2

[plugins."io.containerd.grpc.v1.cri".registry.mirrors."*"]
  endpoint = ["https://puller:url-password-value@mirror.example"]
[plugins."io.containerd.grpc.v1.cri".registry.mirrors."quay.io"]
  endpoint = ["ftp://puller:ftp-password-value@mirror.example"]
"""


def migrated_without_credentials(directory: Path, result: dict, _bin_dir: str | None) -> None:
    hosts = tomllib.loads((directory / 'certs.d/_default/hosts.toml').read_text())
    assert list(hosts['host']) == ['https://mirror.example']
    assert any('user:password@' in warning for warning in result['warnings'])


def private_file(directory: Path, result: dict, _bin_dir: str | None) -> None:
    assert (directory / HOSTS).stat().st_mode & 0o077 == 0, 'a file with a secret must be 0600'
    assert any('(new value)' in diff['after'] for diff in result['diff'])


def auth_kept(directory: Path, result: dict, _bin_dir: str | None) -> None:
    config = tomllib.loads((directory / CONFIG).read_text())
    auth = config['plugins']['io.containerd.grpc.v1.cri']['registry']['configs']['registry.example']['auth']
    assert auth['password'] == 'auth-password-value', 'containerd still needs the credentials'
    assert any('********' in diff['before'] for diff in result['diff'])


CASES = [header_case(form) for form in HEADER_FORMS] + [
    Case(id='sec-hosts-header-inline-table', module='peerpull.spegel.containerd_hosts', args=dict(HOSTS_ARGS),
         expect='changed', files={HOSTS: "server = 'https://registry-1.docker.io'\n\n" + INLINE_HEADER},
         written=(HOSTS,), secrets=('inline-table-secret',), judge=header_kept,
         why='a header as an inline table'),
    Case(id='sec-hosts-authorization-rotated', module='peerpull.spegel.containerd_hosts',
         args=dict(HOSTS_ARGS, authorization={'username': 'spegel', 'password': 'rotated-new-password'}),
         expect='changed', written=(HOSTS,),
         files={HOSTS: user_hosts("Authorization = 'Basic b2xkLXNlY3JldA=='").replace(
             'https://mirror.example', MIRROR)},
         secrets=('b2xkLXNlY3JldA==', 'rotated-new-password', 'c3BlZ2VsOnJvdGF0ZWQtbmV3LXBhc3N3b3Jk'),
         judge=private_file,
         why='a rotated password: the diff says it changed, never what it was or is'),
    Case(id='sec-config-registry-auth', module='peerpull.spegel.containerd_config',
         args={'path': '{dir}/config.toml', 'hosts_dir': '{dir}/certs.d'}, expect='changed',
         files={CONFIG: CONFIG_WITH_AUTH}, written=(CONFIG, ORIGINAL), containerd='1.7', secrets=AUTH_SECRETS,
         judge=auth_kept, why='registry credentials in config.toml show in the diff of the config_path change'),
    Case(id='sec-config-legacy-endpoint-credentials', module='peerpull.spegel.containerd_config',
         args={'path': '{dir}/config.toml', 'hosts_dir': '{dir}/certs.d'}, expect='changed',
         files={CONFIG: LEGACY_WITH_URL_CREDENTIALS}, containerd='1.7',
         written=(CONFIG, ORIGINAL, 'certs.d', 'certs.d/_default', 'certs.d/_default/hosts.toml'),
         secrets=('url-password-value', 'ftp-password-value'), judge=migrated_without_credentials,
         why='an old mirror endpoint written as https://user:password@host'),
    Case(id='sec-toml-file-edits-beside-a-secret', module='peerpull.spegel.toml_file',
         args={'path': '{dir}/config.toml', 'key': ['plugins', 'io.containerd.grpc.v1.cri', 'registry', 'config_path'],
               'value': '/etc/containerd/certs.d'},
         expect='changed', files={CONFIG: CONFIG_WITH_AUTH}, written=(CONFIG,), secrets=AUTH_SECRETS,
         why='toml_file shows a diff of a file that holds registry credentials'),
    Case(id='sec-toml-file-bad-value-beside-a-secret', module='peerpull.spegel.toml_file',
         args={'path': '{dir}/config.toml',
               'key': ['plugins', 'io.containerd.grpc.v1.cri', 'registry', 'configs', 'registry.example', 'auth',
                       'password', 'deeper'],
               'value': 'x'},
         expect='refused', files={CONFIG: CONFIG_WITH_AUTH}, secrets=AUTH_SECRETS,
         message=('{dir}/config.toml', 'password'),
         why='addressing below a secret string is refused without echoing it'),
]
