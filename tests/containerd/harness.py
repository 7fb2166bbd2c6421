# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Real containerd binaries and their effective configuration, for the test suite.

Import with tests/containerd on sys.path (pytest puts it there for the tests in this
directory; other suites insert it, as tests/molecule/shared/node_checks.py does).

Dump layouts, as the real binaries print them (whatever the input file's layout):
  containerd 1.x -> version 2: config_path under plugins."io.containerd.grpc.v1.cri".registry,
                    discard_unpacked_layers under plugins."io.containerd.grpc.v1.cri".containerd
                    (v1 input is converted to these long plugin names)
  containerd 2.0-2.2 -> version 3: both under plugins."io.containerd.cri.v1.images"
                    (config_path in its .registry sub-table); v2 input is migrated
  containerd 2.3+ -> version 4: the same tables as version 3; v2 and v3 input is migrated
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import re
import subprocess
import tempfile
import time
import tomllib
from collections.abc import Iterable
from pathlib import Path

import binaries

FIXTURES_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "containerd"
DUMP_TIMEOUT = 60  # seconds; a dump takes well under one
DAEMON_START_TIMEOUT = 30  # seconds; a daemon serves its socket within one or two

KeyPath = tuple[str, ...]

# Where each setting lives, by the `version` of a `config dump` output.
REGISTRY_SETTING_PATHS: dict[int, dict[str, KeyPath]] = {
    2: {
        "config_path": ("plugins", "io.containerd.grpc.v1.cri", "registry", "config_path"),
        "discard_unpacked_layers": ("plugins", "io.containerd.grpc.v1.cri", "containerd", "discard_unpacked_layers"),
    },
    3: {
        "config_path": ("plugins", "io.containerd.cri.v1.images", "registry", "config_path"),
        "discard_unpacked_layers": ("plugins", "io.containerd.cri.v1.images", "discard_unpacked_layers"),
    },
}
REGISTRY_SETTING_PATHS[4] = REGISTRY_SETTING_PATHS[3]


class ConfigDumpError(RuntimeError):
    pass


@functools.cache
def containerd_binaries() -> dict[str, Path]:
    """Family ("1.6", "1.7", "2.1", ...) -> containerd binary; fetched on first use."""
    return {binary.family: binary.containerd for binary in binaries.all_binaries()}


def config_dump(binary: Path, config_path: Path) -> dict:
    """Effective config of `config_path` as `binary` sees it (`containerd config dump`).

    The dump needs no daemon, root or state directory (it only reads the file and its
    imports). It runs with the config's directory as working directory because 1.6
    resolves relative imports against the working directory, 1.7+ against the file.
    """
    config_path = Path(config_path).resolve()
    # containerd 2.x dumps the defaults, without an error, for a file that is missing.
    if not config_path.is_file():
        raise ConfigDumpError(f"{config_path}: no such file")
    argv = [str(binary), "--config", str(config_path), "config", "dump"]
    with tempfile.TemporaryDirectory(prefix="containerd-dump-") as scratch:
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": scratch, "TMPDIR": scratch}
        try:
            result = subprocess.run(
                argv, cwd=config_path.parent, env=env, capture_output=True, text=True, timeout=DUMP_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise ConfigDumpError(f"{binary} config dump of {config_path} timed out after {DUMP_TIMEOUT}s") from exc
    if result.returncode != 0:
        raise ConfigDumpError(
            f"{binary} rejected {config_path} (exit {result.returncode}):\n{result.stderr.strip()}"
        )
    return tomllib.loads(result.stdout)


def registry_setting_paths(dump: dict) -> dict[str, KeyPath]:
    """Key paths of config_path and discard_unpacked_layers in this dump's layout."""
    version = dump.get("version")
    if version not in REGISTRY_SETTING_PATHS:
        raise ValueError(f"not a containerd 1.x/2.x config dump: version = {version!r}")
    return REGISTRY_SETTING_PATHS[version]


def effective_registry_settings(dump: dict) -> dict:
    """{"config_path": str, "discard_unpacked_layers": bool} from a config dump.

    Raises KeyError when the CRI settings are absent, as on 1.x with the CRI plugin
    disabled (Docker's containerd.io config).
    """
    try:
        return {name: _get(dump, path) for name, path in registry_setting_paths(dump).items()}
    except KeyError as exc:
        raise KeyError(f"{exc.args[0]} (disabled_plugins = {dump.get('disabled_plugins')})") from None


def dump_without(dump: dict, paths: Iterable[KeyPath]) -> dict:
    """Deep copy of `dump` with the given key paths removed.

    For "every other effective setting is unchanged" checks. On 1.x the dump's
    top-level `imports` lists the loaded file itself, so drop ("imports",) too when
    comparing dumps of two different files.
    """
    result = copy.deepcopy(dump)
    for path in paths:
        parent = _get(result, path[:-1])
        if path[-1] not in parent:
            raise KeyError(f"{'.'.join(path)} is not in the dump")
        del parent[path[-1]]
    return result


def fixture_manifest() -> dict:
    """tests/fixtures/containerd/fixtures.json: per fixture, layout and accepting families."""
    return json.loads((FIXTURES_DIR / "fixtures.json").read_text())


def copy_with_imports(config_path: Path, directory: Path, imports: list[str]) -> Path:
    """Copy a config into `directory` with its top-level `imports = [...]` replaced.

    EKS-shaped fixtures import /etc/containerd/config.d/*.toml; tests point that at
    a fixture directory instead. Only the imports line changes, byte for byte.
    """
    text = Path(config_path).read_bytes().decode()  # bytes: keep CRLF as it is
    line = re.compile(r"^imports\s*=\s*\[[^\]]*\]", re.MULTILINE)
    if len(line.findall(text)) != 1:
        raise ValueError(f"{config_path}: expected exactly one top-level imports line")
    copied = Path(directory) / Path(config_path).name
    copied.write_bytes(line.sub(lambda _: f"imports = {json.dumps(imports)}", text).encode())
    if tomllib.loads(copied.read_bytes().decode()).get("imports") != imports:
        raise ValueError(f"{config_path}: imports line is not the top-level imports key")
    return copied


@contextlib.contextmanager
def running_daemon(containerd: Path, root: Path, config: str, socket: Path):
    """A real containerd daemon serving `socket`, with `config` as its config.toml and its state
    under `root` (keep both short: a socket path holds at most 107 bytes); stopped on exit."""
    root, socket = Path(root), Path(socket)
    (root / "config.toml").write_text(config)
    with (root / "daemon.log").open("w") as log:
        process = subprocess.Popen([str(containerd), "--config", str(root / "config.toml"), "--root", str(root / "root"),
                                    "--state", str(root / "state"), "--address", str(socket)],
                                   stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + DAEMON_START_TIMEOUT
        while not socket.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        if not socket.exists():
            raise RuntimeError(f"{containerd} did not serve {socket}: {(root / 'daemon.log').read_text()}")
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _get(tree: dict, path: KeyPath):
    node = tree
    for depth, key in enumerate(path):
        if not isinstance(node, dict) or key not in node:
            raise KeyError(f"{'.'.join(path[: depth + 1])} is not in the dump")
        node = node[key]
    return node
