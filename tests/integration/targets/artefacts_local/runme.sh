#!/usr/bin/env bash
# A target of several plays (it imports the playbook peerpull.spegel.artefacts), so a
# script target as ansible-test has them: its inventory and integration_config.yml.
set -euo pipefail
cd -- "$(dirname -- "${BASH_SOURCE[0]}")"
exec ansible-playbook run.yml -i "$INVENTORY_PATH" -e @../../integration_config.yml "$@"
