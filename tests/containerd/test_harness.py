# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The harness against the real containerd binaries (fetched on first use)."""

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import binaries as containerd_binaries
import harness

GROUPS = ("1.6", "1.7", "2.x")
DEFAULT_FIXTURES = {"1.6": "default-1.6.toml", "1.7": "default-1.7.toml", "2.x": "default-2.1.toml"}
AKS_SETTINGS = {"config_path": "/etc/containerd/certs.d", "discard_unpacked_layers": False}
MANIFEST = harness.fixture_manifest()


@pytest.fixture(scope="session")
def binaries() -> dict[str, Path]:
    return {harness.family_group(family): path for family, path in harness.containerd_binaries().items()}


@pytest.fixture(scope="session")
def versions(binaries) -> dict[str, str]:
    return {group: containerd_binaries.reported_version(path) for group, path in binaries.items()}


def dump(binaries, group, fixture):
    return harness.config_dump(binaries[group], harness.FIXTURES_DIR / fixture)


def test_one_binary_per_family_reporting_its_family(versions):
    assert sorted(versions) == list(GROUPS)
    for group, version in versions.items():
        assert harness.family_group(".".join(version.split(".")[:2])) == group


def test_warm_cache_fetch_makes_no_network_request(binaries, tmp_path):
    # Any HTTP request would go to this closed proxy port and fail.
    env = dict(os.environ, http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9", no_proxy="")
    script = Path(containerd_binaries.__file__)
    result = subprocess.run(
        [sys.executable, str(script), "--json"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert sorted(Path(p) for p in json.loads(result.stdout).values()) == sorted(binaries.values())


@pytest.mark.parametrize("group", GROUPS)
def test_default_fixture_dumps_in_the_family_layout(binaries, group):
    settings = harness.effective_registry_settings(dump(binaries, group, DEFAULT_FIXTURES[group]))
    assert settings == {"config_path": "", "discard_unpacked_layers": False}


@pytest.mark.parametrize("group", GROUPS)
def test_dump_layout_is_v2_on_1x_and_v3_on_2x(binaries, group):
    expected = 3 if group == "2.x" else 2
    for fixture in ("default-1.7.toml", "v1-legacy.toml", "empty.toml"):
        assert dump(binaries, group, fixture)["version"] == expected


@pytest.mark.parametrize("group", GROUPS)
def test_default_fixture_is_the_binarys_config_default(binaries, versions, group):
    if versions[group] != MANIFEST["recorded_with"][group]:
        pytest.skip(f"fixture recorded with {MANIFEST['recorded_with'][group]}, binary is {versions[group]}")
    live = subprocess.run(
        [str(binaries[group]), "config", "default"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    fixture = (harness.FIXTURES_DIR / DEFAULT_FIXTURES[group]).read_text()
    assert tomllib.loads(fixture) == tomllib.loads(live)


@pytest.mark.parametrize("group", GROUPS)
def test_aks_is_already_spegel_ready(binaries, group):
    assert harness.effective_registry_settings(dump(binaries, group, "aks.toml")) == AKS_SETTINGS


@pytest.mark.parametrize("group", GROUPS)
def test_invalid_toml_is_rejected_naming_the_file(binaries, group):
    with pytest.raises(harness.ConfigDumpError, match="invalid.toml"):
        dump(binaries, group, "invalid.toml")


@pytest.mark.parametrize("group", GROUPS)
def test_missing_file_is_an_error_not_the_defaults(binaries, group, tmp_path):
    with pytest.raises(harness.ConfigDumpError, match="no such file"):
        harness.config_dump(binaries[group], tmp_path / "absent.toml")


def test_cri_disabled_has_no_effective_settings_on_1x(binaries):
    with pytest.raises(KeyError, match="disabled_plugins"):
        harness.effective_registry_settings(dump(binaries, "1.7", "docker-containerd-io.toml"))


@pytest.mark.parametrize("group", GROUPS)
def test_dump_without_compares_everything_else(binaries, group, tmp_path):
    original = dump(binaries, group, "aks.toml")
    edited_file = tmp_path / "aks.toml"
    edited_file.write_text(
        (harness.FIXTURES_DIR / "aks.toml").read_text().replace('"/etc/containerd/certs.d"', '"/srv/certs.d"')
    )
    edited = harness.config_dump(binaries[group], edited_file)
    assert harness.effective_registry_settings(edited)["config_path"] == "/srv/certs.d"

    # 1.x lists the loaded file in `imports`, so that differs between two files too.
    ignored = [*harness.registry_setting_paths(original).values(), ("imports",)]
    assert harness.dump_without(original, ignored) == harness.dump_without(edited, ignored)
    assert harness.dump_without(original, [("imports",)]) != harness.dump_without(edited, [("imports",)])
    with pytest.raises(KeyError):
        harness.dump_without(original, [("plugins", "no.such.plugin", "key")])


@pytest.mark.parametrize(
    ("group", "sandbox_survives"), [("1.6", False), ("1.7", False), ("2.x", True)]
)
def test_dropin_setting_only_config_path(binaries, group, sandbox_survives, tmp_path):
    """An imported file that names the CRI plugin replaces its table on 1.x, merges on 2.x."""
    config = harness.copy_with_imports(
        harness.FIXTURES_DIR / "eks-al2.toml",
        tmp_path,
        [str(harness.FIXTURES_DIR / "imports-dropin" / "conf.d" / "10-registry.toml")],
    )
    effective = harness.config_dump(binaries[group], config)
    assert harness.effective_registry_settings(effective)["config_path"] == "/etc/containerd/certs.d"
    plugins = effective["plugins"]
    if group == "2.x":
        sandbox = plugins["io.containerd.cri.v1.images"]["pinned_images"]["sandbox"]
    else:
        sandbox = plugins["io.containerd.grpc.v1.cri"]["sandbox_image"]
    assert (sandbox == "602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/pause:3.5") is sandbox_survives


def test_copy_with_imports_changes_only_the_imports_line(tmp_path):
    source = harness.FIXTURES_DIR / "eks-al2.toml"
    copied = harness.copy_with_imports(source, tmp_path, ["/x/*.toml"])
    changed = [
        (old, new)
        for old, new in zip(source.read_text().splitlines(), copied.read_text().splitlines(), strict=True)
        if old != new
    ]
    assert changed == [('imports = ["/etc/containerd/config.d/*.toml"]', 'imports = ["/x/*.toml"]')]


def test_manifest_lists_every_fixture():
    on_disk = {str(p.relative_to(harness.FIXTURES_DIR)) for p in harness.FIXTURES_DIR.rglob("*.toml")}
    assert on_disk == set(MANIFEST["fixtures"])


@pytest.mark.parametrize("fixture", sorted(MANIFEST["fixtures"]))
def test_manifest_matches_the_real_binaries(binaries, versions, fixture):
    """fixtures.json holds what the binaries do; re-check it (skipping a family whose
    binary is no longer the recorded version, e.g. after sid moved on)."""
    recorded = MANIFEST["fixtures"][fixture]
    for group in GROUPS:
        if versions[group] != MANIFEST["recorded_with"][group]:
            continue
        try:
            effective_dump = dump(binaries, group, fixture)
        except harness.ConfigDumpError:
            assert group not in recorded["accepted_by"], f"{group} now rejects {fixture}"
            continue
        assert group in recorded["accepted_by"], f"{group} now accepts {fixture}"
        try:
            effective = harness.effective_registry_settings(effective_dump)
        except KeyError:
            effective = None
        assert effective == recorded["effective"][group], f"{fixture} on {group}"
