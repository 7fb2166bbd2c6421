"""Offline stand-in for the pip bootstrap script that ansible-test downloads.

`ansible-test sanity` builds one virtualenv per sanity test, created without pip, and
bootstraps pip into each with a get-pip script it downloads from a host this project's
machines cannot reach (ansible/ansible#77304). The documented work-around is to put
the script in ~/.ansible/test/cache/get_pip_<version>.py beforehand; scripts/setup puts
this file there.

It does what get-pip does, with the pip wheel that Python's own ensurepip ships (or
Debian's python3-pip-whl) instead of one embedded in the script: run that pip from the
wheel and let it install the requested pip (e.g. pip==24.2) from the package index.
ansible-test runs it with runpy as __main__, arguments in sys.argv[1:].
"""

from __future__ import annotations

import glob
import os
import sys

# Marks files written by scripts/setup, so it only ever replaces its own copies.
MARKER = "peerpull-spegel: offline ansible-test pip bootstrap"


def _wheel_version(path: str) -> tuple[int, ...]:
    version = os.path.basename(path).split("-")[1]
    return tuple(int(part) if part.isdigit() else 0 for part in version.split("."))


def find_pip_wheel() -> str:
    import ensurepip  # pylint: disable=import-outside-toplevel

    patterns = [
        os.path.join(os.path.dirname(ensurepip.__file__), "_bundled", "pip-*.whl"),
        "/usr/share/python-wheels/pip-*.whl",  # Debian's python3-pip-whl
    ]
    wheels = [path for pattern in patterns for path in glob.glob(pattern)]
    if not wheels:
        sys.exit(f"{MARKER}: no pip wheel found in {' or '.join(patterns)}")
    return max(wheels, key=_wheel_version)


def main() -> None:
    # get-pip's own switches; everything else is handed to `pip install`.
    args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
    sys.path.insert(0, find_pip_wheel())
    from pip._internal.cli.main import main as pip_main  # pylint: disable=import-outside-toplevel

    sys.exit(pip_main(["install", "--upgrade", "--force-reinstall", *args]))


if __name__ == "__main__":
    main()
