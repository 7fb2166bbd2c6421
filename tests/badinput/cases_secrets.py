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
    # Header names that say nothing of a secret: every header value is masked, whatever its name.
    'jfrog': ('X-JFrog-Art-Api = "AKCp8jfrog-secret-value"', 'AKCp8jfrog-secret-value'),
    'private-token': ('Private-Token = "glpat-private-token-value"', 'glpat-private-token-value'),
    'registry-auth': ('X-Registry-Auth = "eyJyZWdpc3RyeS1hdXRoLXZhbHVl"', 'eyJyZWdpc3RyeS1hdXRoLXZhbHVl'),
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


# A credential kept as a comment: a header commented out when the mirror moved, a note.
COMMENTED_CREDENTIALS = ("# Authorization = 'Basic Y29tbWVudGVkLW91dC1zZWNyZXQ='\n"
                         "server = 'https://registry-1.docker.io'  # password: note-secret-value\n")

CONFIG_WITH_HEADERS = """version = 2

[plugins."io.containerd.grpc.v1.cri".registry.headers]
  X-Meta-Source = ["registry-header-one"]
  X-Custom-Auth-Key = ["registry-header-secret"]
# token = "config-comment-secret"
"""


def headers_kept(directory: Path, result: dict, _bin_dir: str | None) -> None:
    config = tomllib.loads((directory / CONFIG).read_text())
    headers = config['plugins']['io.containerd.grpc.v1.cri']['registry']['headers']
    assert headers['X-Custom-Auth-Key'] == ['registry-header-secret'], 'containerd still sends the header'
    assert any("'********'" in diff['before'] for diff in result['diff'])


def basic_header_is(header: str):
    def judge(directory: Path, result: dict, _bin_dir: str | None) -> None:
        hosts = tomllib.loads((directory / HOSTS).read_text())
        assert hosts['host'][MIRROR]['header']['Authorization'] == header
    return judge


# The bake's boot entry point, installing into the case's directory (it refuses before that).
BOOT = {'mirror_hosts_dir': '{dir}/certs.d', 'mirror_node_ip': '198.18.0.5', 'mirror_containerd_version': '2.1.9',
        'mirror_boot_lib': '{dir}/lib', 'mirror_boot_settings': '{dir}/bake.json',
        'mirror_boot_unit_file': '{dir}/systemd/peerpull-spegel-hosts.service'}

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
    Case(id='sec-hosts-commented-credentials', module='peerpull.spegel.containerd_hosts', args=dict(HOSTS_ARGS),
         expect='changed', files={HOSTS: COMMENTED_CREDENTIALS}, written=(HOSTS,),
         secrets=('Y29tbWVudGVkLW91dC1zZWNyZXQ=', 'note-secret-value'),
         why='an old Authorization header commented out, a password noted beside a key'),
    Case(id='sec-config-registry-headers', module='peerpull.spegel.containerd_config',
         args={'path': '{dir}/config.toml', 'hosts_dir': '{dir}/certs.d'}, expect='changed',
         files={CONFIG: CONFIG_WITH_HEADERS}, written=(CONFIG, ORIGINAL), containerd='1.7',
         secrets=('registry-header-one', 'registry-header-secret', 'config-comment-secret'), judge=headers_kept,
         why='config.toml registry headers of any name (X-Custom-Auth-Key) show in the diff, masked'),
    Case(id='sec-config-legacy-endpoint-at-in-password', module='peerpull.spegel.containerd_config',
         args={'path': '{dir}/config.toml', 'hosts_dir': '{dir}/certs.d'}, expect='changed',
         files={CONFIG: LEGACY_WITH_URL_CREDENTIALS.replace('url-password-value', 'pa@ss-tail-secret')},
         containerd='1.7', written=(CONFIG, ORIGINAL, 'certs.d', 'certs.d/_default', 'certs.d/_default/hosts.toml'),
         secrets=('pa@ss', 'ss-tail-secret', 'ftp-password-value'), judge=migrated_without_credentials,
         why='a password with an @ in it: the userinfo runs to the last @'),
    Case(id='sec-hosts-server-at-in-password', module='peerpull.spegel.containerd_hosts',
         args=dict(HOSTS_ARGS, server={'docker.io': 'https://puller:pa@ss-server-secret@registry.example'}),
         expect='refused', files={HOSTS: user_hosts("Authorization = 'Basic a2VwdA=='")},
         message=('credentials do not belong in the URL', 'https://********@registry.example'),
         secrets=('ss-server-secret', 'a2VwdA=='),
         why='a server URL with credentials whose password holds an @'),
    Case(id='sec-hosts-authorization-number-password', module='peerpull.spegel.containerd_hosts',
         args=dict(HOSTS_ARGS, authorization={'username': 'spegel', 'password': 120034}),
         expect='changed', files={HOSTS: "server = 'https://registry-1.docker.io'\n"}, written=(HOSTS,), secrets=('c3BlZ2VsOjEyMDAzNA==', '120034'),
         judge=basic_header_is('Basic c3BlZ2VsOjEyMDAzNA=='),
         why='YAML reads an unquoted password: 120034 as a number; its digits are the password'),
    Case(id='sec-hosts-authorization-boolean-password', module='peerpull.spegel.containerd_hosts',
         args=dict(HOSTS_ARGS, authorization={'username': 'spegel', 'password': True}), expect='refused',
         message=('authorization: its password must be a string (quote it in YAML), got a boolean',),
         why='password: yes is a boolean in YAML'),
    Case(id='sec-role-boot-url-credentials', module='role:peerpull.spegel.mirror:boot',
         args=dict(BOOT, mirror_urls=['https://bob:pa@boot-url-secret@mirror.corp:5000']), expect='refused',
         message=('Nothing was installed', 'credentials do not belong in the URL'), secrets=('boot-url-secret',),
         why='a bake with a mirror URL that carries credentials'),
    Case(id='sec-role-boot-server-credentials', module='role:peerpull.spegel.mirror:boot',
         args=dict(BOOT, mirror_registries=['docker.io'],
                   mirror_server={'docker.io': 'https://bob:boot-server-secret@registry.corp'}),
         expect='refused', message=('Nothing was installed', 'credentials do not belong in the URL'),
         secrets=('boot-server-secret',),
         why='the bake checks mirror_server as the mirror role does, and never writes credentials into the image'),
    Case(id='sec-role-boot-server-not-listed', module='role:peerpull.spegel.mirror:boot',
         args=dict(BOOT, mirror_registries=['docker.io'], mirror_server={'ghcr.io': 'https://ghcr.io'}),
         expect='refused', message=("mirror_server names registry 'ghcr.io', which is not in mirror_registries",),
         why='a server for a registry the bake does not write'),
]
