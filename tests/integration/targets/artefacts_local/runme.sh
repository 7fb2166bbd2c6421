#!/usr/bin/env bash
# A target of several plays (it imports playbooks/artefacts.yml), so a script target as
# ansible-test has them: the runner's arguments (inventory, connection, vars) go through.
set -euo pipefail
cd -- "$(dirname -- "${BASH_SOURCE[0]}")"
exec ansible-playbook run.yml "$@"
