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

FAMILIES = containerd_binaries.FAMILIES
DEFAULT_FIXTURES = {family: f"default-{family}.toml" for family in FAMILIES}
# The `version` of `config dump` output: 1.x print version 2, 2.0-2.2 version 3, 2.3+ version 4.
DUMP_VERSIONS = {"1.6": 2, "1.7": 2, "2.1": 3, "2.2": 3, "2.3": 4, "2.4": 4}
AKS_SETTINGS = {"config_path": "/etc/containerd/certs.d", "discard_unpacked_layers": False}
MANIFEST = harness.fixture_manifest()


@pytest.fixture(scope="session")
def binaries() -> dict[str, Path]:
    return harness.containerd_binaries()


@pytest.fixture(scope="session")
def versions(binaries) -> dict[str, str]:
    return {family: containerd_binaries.reported_version(path) for family, path in binaries.items()}


def dump(binaries, family, fixture):
    return harness.config_dump(binaries[family], harness.FIXTURES_DIR / fixture)


def test_one_binary_per_family_reporting_its_family(versions):
    assert list(versions) == list(FAMILIES) == list(DUMP_VERSIONS)
    for family, version in versions.items():
        assert ".".join(version.split(".")[:2]) == family


def test_warm_cache_fetch_makes_no_network_request(binaries, tmp_path):
    # Any HTTP request would go to this closed proxy port and fail.
    env = dict(os.environ, http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9", no_proxy="")
    script = Path(containerd_binaries.__file__)
    result = subprocess.run(
        [sys.executable, str(script), "--json"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert sorted(Path(p) for p in json.loads(result.stdout).values()) == sorted(binaries.values())


@pytest.mark.parametrize("family", FAMILIES)
def test_default_fixture_dumps_in_the_family_layout(binaries, family):
    effective = dump(binaries, family, DEFAULT_FIXTURES[family])
    assert effective["version"] == DUMP_VERSIONS[family]
    settings = harness.effective_registry_settings(effective)
    assert settings == {"config_path": "", "discard_unpacked_layers": False}


@pytest.mark.parametrize("family", FAMILIES)
def test_dump_layout_is_v2_on_1x_v3_on_2_0_to_2_2_and_v4_on_2_3_on(binaries, family):
    for fixture in ("default-1.7.toml", "v1-legacy.toml", "empty.toml", "default-2.1.toml"):
        if family == "1.7" and fixture == "default-2.1.toml":
            continue  # 1.7 refuses version 3
        assert dump(binaries, family, fixture)["version"] == DUMP_VERSIONS[family]


@pytest.mark.parametrize("family", FAMILIES)
def test_default_fixture_is_the_binarys_config_default(binaries, versions, family):
    if versions[family] != MANIFEST["recorded_with"][family]:
        pytest.skip(f"fixture recorded with {MANIFEST['recorded_with'][family]}, binary is {versions[family]}")
    live = subprocess.run(
        [str(binaries[family]), "config", "default"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    fixture = (harness.FIXTURES_DIR / DEFAULT_FIXTURES[family]).read_text()
    assert tomllib.loads(fixture) == tomllib.loads(live)


@pytest.mark.parametrize("family", FAMILIES)
def test_aks_is_already_spegel_ready(binaries, family):
    assert harness.effective_registry_settings(dump(binaries, family, "aks.toml")) == AKS_SETTINGS


@pytest.mark.parametrize("family", FAMILIES)
def test_invalid_toml_is_rejected_naming_the_file(binaries, family):
    with pytest.raises(harness.ConfigDumpError, match="invalid.toml"):
        dump(binaries, family, "invalid.toml")


@pytest.mark.parametrize("family", FAMILIES)
def test_missing_file_is_an_error_not_the_defaults(binaries, family, tmp_path):
    with pytest.raises(harness.ConfigDumpError, match="no such file"):
        harness.config_dump(binaries[family], tmp_path / "absent.toml")


@pytest.mark.parametrize("family", ["1.6", "1.7"])
def test_cri_disabled_has_no_effective_settings_on_1x(binaries, family):
    with pytest.raises(KeyError, match="disabled_plugins"):
        harness.effective_registry_settings(dump(binaries, family, "docker-containerd-io.toml"))


@pytest.mark.parametrize("family", FAMILIES)
def test_dump_without_compares_everything_else(binaries, family, tmp_path):
    original = dump(binaries, family, "aks.toml")
    edited_file = tmp_path / "aks.toml"
    edited_file.write_text(
        (harness.FIXTURES_DIR / "aks.toml").read_text().replace('"/etc/containerd/certs.d"', '"/srv/certs.d"')
    )
    edited = harness.config_dump(binaries[family], edited_file)
    assert harness.effective_registry_settings(edited)["config_path"] == "/srv/certs.d"

    # 1.x lists the loaded file in `imports`, so that differs between two files too.
    ignored = [*harness.registry_setting_paths(original).values(), ("imports",)]
    assert harness.dump_without(original, ignored) == harness.dump_without(edited, ignored)
    assert harness.dump_without(original, [("imports",)]) != harness.dump_without(edited, [("imports",)])
    with pytest.raises(KeyError):
        harness.dump_without(original, [("plugins", "no.such.plugin", "key")])


@pytest.mark.parametrize("family", FAMILIES)
def test_dropin_setting_only_config_path(binaries, family, tmp_path):
    """An imported file that names the CRI plugin replaces its table on 1.x, merges on 2.x."""
    sandbox_survives = not family.startswith("1.")
    config = harness.copy_with_imports(
        harness.FIXTURES_DIR / "eks-al2.toml",
        tmp_path,
        [str(harness.FIXTURES_DIR / "imports-dropin" / "conf.d" / "10-registry.toml")],
    )
    effective = harness.config_dump(binaries[family], config)
    assert harness.effective_registry_settings(effective)["config_path"] == "/etc/containerd/certs.d"
    plugins = effective["plugins"]
    if sandbox_survives:
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
    # k0s's files are containerd layouts too, kept with their adapter (tests/fixtures/k0s).
    on_disk |= {f"../k0s/{p.name}" for p in (harness.FIXTURES_DIR.parent / "k0s").glob("*.toml")}
    assert on_disk == set(MANIFEST["fixtures"])


@pytest.mark.parametrize("fixture", sorted(MANIFEST["fixtures"]))
def test_manifest_matches_the_real_binaries(binaries, versions, fixture):
    """fixtures.json holds what the binaries do; re-check it (skipping a family whose
    binary is no longer the recorded version, e.g. after sid moved on)."""
    recorded = MANIFEST["fixtures"][fixture]
    for family in FAMILIES:
        if versions[family] != MANIFEST["recorded_with"][family]:
            continue
        try:
            effective_dump = dump(binaries, family, fixture)
        except harness.ConfigDumpError:
            assert family not in recorded["accepted_by"], f"{family} now rejects {fixture}"
            continue
        assert family in recorded["accepted_by"], f"{family} now accepts {fixture}"
        try:
            effective = harness.effective_registry_settings(effective_dump)
        except KeyError:
            effective = None
        assert effective == recorded["effective"][family], f"{fixture} on {family}"
