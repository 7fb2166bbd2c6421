# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

import tomllib

import pytest

from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils._toml_edit import (
    REDACTED, TomlEditor, format_key, redact_secrets, redact_url_credentials, same_value)

CRI = 'io.containerd.grpc.v1.cri'
CONFIG_PATH = ['plugins', CRI, 'registry', 'config_path']
DISCARD = ['plugins', CRI, 'containerd', 'discard_unpacked_layers']


def edit(text, *changes):
    editor = TomlEditor(text, 'config.toml')
    for key, value in changes:
        editor.set(key, value)
    return editor.render()


def comment_lines(text):
    return [line.strip() for line in text.splitlines() if line.strip().startswith('#')]


SHAPES = {
    'tables': '''version = 2
# registry settings
[plugins."io.containerd.grpc.v1.cri".registry]
  # where hosts.toml files live
  config_path = "/etc/containerd/certs.d:/etc/docker/certs.d"  # EKS default

[plugins."io.containerd.grpc.v1.cri".containerd]
  discard_unpacked_layers = true
''',
    'super-table only': '''version = 2
[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = "overlayfs"
''',
    'dotted keys': '''version = 2
[plugins."io.containerd.grpc.v1.cri"]
registry.config_path = ""  # unset
containerd.discard_unpacked_layers = true
''',
    'inline table': '''version = 2
[plugins."io.containerd.grpc.v1.cri"]
registry = { config_path = "" }
containerd = { discard_unpacked_layers = true, snapshotter = "overlayfs" }
''',
    'single-quoted keys': '''version = 2
[plugins.'io.containerd.grpc.v1.cri'.registry]
  config_path = '/a'
''',
    'out-of-order tables': '''version = 2
[plugins."io.containerd.grpc.v1.cri".registry]
config_path = ""
[grpc]
address = "/run/containerd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri".containerd]
snapshotter = "overlayfs"
''',
    'empty': '',
}


@pytest.mark.parametrize('name', SHAPES)
def test_sets_both_keys_and_keeps_everything_else(name):
    before = SHAPES[name]
    after = edit(before, (CONFIG_PATH, '/etc/containerd/certs.d'), (DISCARD, False))

    data = tomllib.loads(after)
    assert data['plugins'][CRI]['registry']['config_path'] == '/etc/containerd/certs.d'
    assert data['plugins'][CRI]['containerd']['discard_unpacked_layers'] is False
    expected = tomllib.loads(before)
    expected.setdefault('plugins', {}).setdefault(CRI, {}).setdefault('registry', {})['config_path'] = \
        '/etc/containerd/certs.d'
    expected['plugins'][CRI].setdefault('containerd', {})['discard_unpacked_layers'] = False
    assert data == expected
    assert comment_lines(after) == comment_lines(before)


@pytest.mark.parametrize('name', SHAPES)
def test_second_edit_changes_nothing(name):
    once = edit(SHAPES[name], (CONFIG_PATH, '/etc/containerd/certs.d'), (DISCARD, False))
    assert edit(once, (CONFIG_PATH, '/etc/containerd/certs.d'), (DISCARD, False)) == once


def test_untouched_lines_are_byte_identical():
    before = SHAPES['tables']
    after = edit(before, (DISCARD, False))
    changed = [(b, a) for b, a in zip(before.splitlines(), after.splitlines()) if b != a]
    assert changed == [('  discard_unpacked_layers = true', '  discard_unpacked_layers = false')]


def test_replaced_value_keeps_its_trailing_comment_and_indent():
    after = edit(SHAPES['tables'], (CONFIG_PATH, '/etc/containerd/certs.d'))
    assert '  config_path = "/etc/containerd/certs.d"  # EKS default\n' in after


def test_literal_string_stays_literal():
    after = edit(SHAPES['single-quoted keys'], (CONFIG_PATH, '/etc/containerd/certs.d'))
    assert "config_path = '/etc/containerd/certs.d'" in after
    assert "[plugins.'io.containerd.grpc.v1.cri'.registry]" in after


def test_new_key_is_indented_like_its_siblings():
    after = edit(SHAPES['super-table only'], (DISCARD, False))
    assert '  snapshotter = "overlayfs"\n  discard_unpacked_layers = false\n' in after


def test_new_tables_are_written_as_one_header():
    after = edit('version = 2\n', (CONFIG_PATH, '/etc/containerd/certs.d'))
    assert '[plugins."io.containerd.grpc.v1.cri".registry]' in after
    assert '[plugins]' not in after


def test_crlf_stays_crlf():
    before = SHAPES['tables'].replace('\n', '\r\n')
    after = edit(before, (CONFIG_PATH, '/x'), (['plugins', 'new', 'table', 'key'], 1))
    assert '\n' not in after.replace('\r\n', '')


def test_sets_tables_lists_and_scalars():
    after = edit('', (['a'], {'b': [1, 2], 'c': {'d': 'e'}}), (['f'], 1.5), (['g'], True))
    assert tomllib.loads(after) == {'a': {'b': [1, 2], 'c': {'d': 'e'}}, 'f': 1.5, 'g': True}


def test_integer_is_not_boolean():
    """Python says 1 == True; TOML does not, so setting true over 1 is a change."""
    editor = TomlEditor('x = 1\n', 'f.toml')
    assert editor.set(['x'], True) is True
    assert tomllib.loads(editor.render()) == {'x': True}
    assert not same_value(1, True)


def test_tagged_string_subclass_is_written_as_plain_string():
    class Tagged(str):
        pass

    editor = TomlEditor('x = "a"\n', 'f.toml')
    assert editor.set(['x'], Tagged('a')) is False
    assert editor.set(['x'], Tagged('b')) is True
    assert editor.render() == 'x = "b"\n'


def test_remove_key_and_table():
    editor = TomlEditor(SHAPES['tables'], 'f.toml')
    assert editor.remove(['plugins', CRI, 'containerd']) is True
    assert editor.remove(['plugins', CRI, 'containerd']) is False
    assert editor.remove(['no', 'such', 'key']) is False
    data = tomllib.loads(editor.render())
    assert 'containerd' not in data['plugins'][CRI]
    assert '# where hosts.toml files live' in editor.render()


def test_scalar_in_the_way_is_an_error_naming_the_keys():
    editor = TomlEditor('version = 2\n[plugins."io.containerd.grpc.v1.cri"]\nregistry = "x"\n', 'config.toml')
    with pytest.raises(SpegelError) as err:
        editor.set(CONFIG_PATH, '/etc/containerd/certs.d')
    assert str(err.value) == ('config.toml: plugins."io.containerd.grpc.v1.cri".registry is a string, not a table, '
                              'so plugins."io.containerd.grpc.v1.cri".registry.config_path cannot be set. '
                              'Fix or remove that key.')


def test_array_of_tables_cannot_be_entered():
    editor = TomlEditor('[[a]]\nb = 1\n', 'f.toml')
    with pytest.raises(SpegelError, match='array of tables'):
        editor.set(['a', 'b'], 2)


def test_invalid_toml_names_file_and_line():
    with pytest.raises(SpegelError, match=r'bad\.toml is not valid TOML: .*line 2'):
        TomlEditor('a = 1\nb = \n', 'bad.toml')


def test_duplicate_key_is_invalid():
    with pytest.raises(SpegelError, match='not valid TOML'):
        TomlEditor('a = 1\na = 2\n', 'dup.toml')


@pytest.mark.parametrize('value', [None, {1: 'x'}, {'a': None}, [1, None], object()])
def test_values_toml_cannot_hold_are_refused(value):
    editor = TomlEditor('', 'f.toml')
    with pytest.raises(SpegelError, match='cannot be written to TOML|keys must be strings'):
        editor.set(['k'], value)
    assert editor.render() == ''


@pytest.mark.parametrize('key', ['a.b', [], [''], ['a', 3]])
def test_malformed_keys_are_refused(key):
    with pytest.raises(SpegelError, match='segment'):
        TomlEditor('', 'f.toml').set(key, 1)


def test_format_key_quotes_only_what_needs_it():
    assert format_key(['plugins', CRI, 'registry']) == 'plugins."io.containerd.grpc.v1.cri".registry'
    assert format_key(['a b', 'c"d']) == '"a b"."c\\"d"'


# --- secrets --------------------------------------------------------------------------------

SECRET_FORMS = {
    'basic': 'Authorization = "Basic c2VjcmV0"',
    'literal': "Authorization = 'Basic c2VjcmV0'",
    'multi-line basic': 'Authorization = """\nBasic c2VjcmV0"""',
    'multi-line literal': "Authorization = '''Basic c2VjcmV0'''",
    'array': 'Authorization = ["Basic c2VjcmV0", \'Bearer c2VjcmV0\']',
    'escaped': 'authorization = "Basic c2Vj\\u0063mV0"',
    'other header': '"X-Api-Key" = "c2VjcmV0"',
    'token header': 'X-Auth-Token = "c2VjcmV0"',
    'proxy': 'Proxy-Authorization = "Basic c2VjcmV0"',
    'cookie': 'Cookie = "session=c2VjcmV0"',
}


@pytest.mark.parametrize('form', SECRET_FORMS)
def test_a_secret_header_is_masked_in_every_string_form(form):
    text = "[host.'http://a'.header]\n%s\nX-Other = 'another'\n[host.'http://a']\nca = '/ca.pem'\n" % SECRET_FORMS[form]
    masked = redact_secrets(text, 'hosts.toml')
    assert 'c2Vj' not in masked and 'another' not in masked
    assert tomllib.loads(masked)['host']['http://a']['header']['X-Other'] == REDACTED
    assert tomllib.loads(masked)['host']['http://a']['ca'] == '/ca.pem'


def test_secrets_in_inline_tables_dotted_keys_and_arrays_of_tables():
    text = ("[host.'http://b']\nheader = { authorization = 'Basic c2VjcmV0' }\n"
            "host.'http://c'.header.Authorization = 'Basic c2VjcmV0'\n"
            "[[creds]]\npassword = 'c2VjcmV0'\n")
    masked = redact_secrets(text, 'f')
    assert 'c2VjcmV0' not in masked and masked.count("'********'") == 3


def test_registry_credentials_and_url_credentials_are_masked():
    text = ("[plugins.'io.containerd.grpc.v1.cri'.registry.configs.'r.example'.auth]\n"
            "username = 'puller'\npassword = 'pw1'\nauth = 'YTpi'\nidentitytoken = 'tok'\n"
            "[plugins.'io.containerd.grpc.v1.cri'.registry.mirrors.'r.example']\n"
            "endpoint = ['https://user:pw2@mirror.example', 'https://plain.example']\n"
            "[plugins.'io.containerd.grpc.v1.cri'.registry.mirrors.'https://user:pw3@key.example']\n")
    masked = redact_secrets(text, 'config.toml')
    for secret in ('puller', 'pw1', 'YTpi', "'tok'", 'pw2', 'pw3'):
        assert secret not in masked
    assert 'https://plain.example' in masked and 'https://********@mirror.example' in masked
    assert redact_url_credentials('failed: https://u:p@h/x and http://h') == 'failed: https://********@h/x and http://h'


HEADERS_OF_ANY_NAME = (
    "header = { X-Trace = 'root-header-secret' }\n"
    "[host.'https://r.example']\ncapabilities = ['pull']\n"
    "[host.'https://r.example'.header]\n"
    "X-JFrog-Art-Api = 'jfrog-secret'\nPrivate-Token = 'glpat-secret'\nX-Registry-Auth = 'eyJ-secret'\n"
    "X-Meta = ['meta-secret', 'two-secret']\n"
    "[host.'https://i.example']\nheader = { X-Whatever = 'inline-secret' }\n"
    "[plugins.'io.containerd.grpc.v1.cri'.registry.headers]\n"
    "X-Custom-Auth-Key = ['config-header-secret']\n"
    "[plugins.'io.containerd.cri.v1.images'.registry.headers]\nX-Any = ['v3-header-secret']\n"
)


def test_every_value_under_a_header_table_is_masked_whatever_its_name():
    masked = redact_secrets(HEADERS_OF_ANY_NAME, 'f')
    assert 'secret' not in masked
    data = tomllib.loads(masked)
    assert data['host']['https://r.example']['capabilities'] == ['pull']
    assert set(data['host']['https://r.example']['header']) == {
        'X-JFrog-Art-Api', 'Private-Token', 'X-Registry-Auth', 'X-Meta'}


@pytest.mark.parametrize('comment', [
    '# Authorization = "Basic T0xEU0VDUkVU"',
    '#password: hunter2-old',
    "# header = { X-Api-Key = 'old-api-key' }",
    '# "Private-Token" = "glpat-old"',
    '#   X-JFrog-Art-Api = "AKCp-old"',
    '# the old mirror wanted Bearer eyJold.token',
])
def test_a_commented_out_credential_is_masked(comment):
    text = "%s\n[host.'https://r.example']\ncapabilities = ['pull']  %s\n" % (comment, comment)
    masked = redact_secrets(text, 'hosts.toml')
    for secret in ('T0xEU0VDUkVU', 'hunter2-old', 'old-api-key', 'glpat-old', 'AKCp-old', 'eyJold'):
        assert secret not in masked
    assert masked.count(REDACTED) == 2
    assert tomllib.loads(masked) == tomllib.loads(text)


def test_a_comment_without_credentials_is_kept():
    text = "# capabilities = ['pull'], see https://example/#auth\nserver = 'https://r.example'  # the token lives in vault\n"
    assert redact_secrets(text, 'f') == text


@pytest.mark.parametrize('text, shown', [
    ('https://user:pa@ss@r.example', 'https://********@r.example'),
    ("failed: 'https://u:p@ss@w@r.example:5000/v2@x' and https://h", "failed: 'https://********@r.example:5000/v2@x' and https://h"),
    ('https://r.example/path@x', 'https://r.example/path@x'),
    ('https://r.example?u=a@b', 'https://r.example?u=a@b'),
    # A password holding / # or ? ends the host early for the parsers: masked to its @ all the same.
    ("'http://admin:pa/ss@198.18.0.5:30020'", "'http://********@198.18.0.5:30020'"),
    ('http://admin:p#ss@h and http://admin:p?ss@h', 'http://********@h and http://********@h'),
    ('https://r.example:5000/v2@x', 'https://r.example:5000/v2@x'),
    ('http://r.example:/v2@x', 'http://r.example:/v2@x'),
])
def test_url_credentials_are_masked_up_to_the_last_at_of_the_userinfo(text, shown):
    assert redact_url_credentials(text) == shown


def test_url_credentials_with_an_at_in_the_password_are_masked_in_toml():
    masked = redact_secrets("server = 'https://user:pa@ss@r.example'\n[host.'https://u:p@w@m.example']\n", 'f')
    assert 'ss@' not in masked and 'p@w' not in masked


def test_a_rotated_secret_still_shows_in_the_diff_without_its_value():
    before = "[host.'http://a'.header]\nAuthorization = 'Basic b2xk'\n"
    after = "[host.'http://a'.header]\nAuthorization = '''Basic bmV3'''\n"
    assert redact_secrets(before) == "[host.'http://a'.header]\nAuthorization = '********'\n"
    assert redact_secrets(after, before=before) == "[host.'http://a'.header]\nAuthorization = '******** (new value)'\n"
    assert redact_secrets(before, before=before) == redact_secrets(before)


def test_text_without_secrets_is_unchanged_and_invalid_text_is_not_shown():
    text = "[plugins.x]\nkey_file = '/k.pem'  # a path, no secret\n"
    assert redact_secrets(text, 'f') == text
    assert redact_secrets(None) is None
    assert 'c2VjcmV0' not in redact_secrets("Authorization = 'c2VjcmV0\n", 'f')


# --- values at TOML's edges ------------------------------------------------------------------

@pytest.mark.parametrize('value', [2 ** 63, -2 ** 63 - 1, [1, 2 ** 64], {'deep': 10 ** 30}])
def test_integers_beyond_64_bits_are_refused_naming_the_key(value):
    editor = TomlEditor('a = 1\n', 'config.toml')
    with pytest.raises(SpegelError, match=r'^b(\.deep)?: -?\d+ is outside the range of a TOML integer'):
        editor.set(['b'], value)
    assert editor.render() == 'a = 1\n'


@pytest.mark.parametrize('value', [2 ** 63 - 1, -2 ** 63])
def test_the_64_bit_limits_themselves_are_written(value):
    assert tomllib.loads(edit('', (['b'], value)))['b'] == value


@pytest.mark.parametrize('value, written', [
    (float('nan'), 'b = nan\n'), (float('inf'), 'b = inf\n'), (float('-inf'), 'b = -inf\n'),
])
def test_nan_and_inf_are_written_and_idempotent(value, written):
    text = edit('', (['b'], value))
    assert text == written
    editor = TomlEditor(text, 'config.toml')
    assert editor.set(['b'], value) is False
    assert editor.render() == text
