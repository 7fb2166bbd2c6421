# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Verify the AWX jobs of the awx scenario (see ../molecule.yml and ../converge.yml).

Each job left, under <ephemeral>/awx: its summary (<template>.json: runner's status and
rc, the artifacts AWX's event handler kept, the extra vars of the launch) and its private
data directory (jobs/awx_<id>_*/), with runner's artifacts/<id>/ (status, rc, stdout,
command, job_events/*.json). The nodes were recorded after site (after_site.<node>.json)
and are checked here as uninstall left them.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import tomllib
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
# pylint: disable=wrong-import-position
from node_checks import CONFIG_COPIES, CONFIG_FILE, HOSTS_DIR, FleetNode  # noqa: E402

testinfra_hosts = ["all"]

RESULTS = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "awx"
JOBS = ("site", "verify", "uninstall")
NODES = ("mol-awx-n1", "mol-awx-n2")
CHECKS = ("config", "restarted", "cri", "hosts_toml", "mirror")


@pytest.fixture(scope="module")
def node(host):
    return FleetNode(host)


def summary(job: str) -> dict:
    path = RESULTS / f"{job}.json"
    assert path.exists(), f"the {job} job left no summary: see the converge output"
    return json.loads(path.read_text())


def artifact_dir(job: str) -> Path:
    return Path(summary(job)["artifact_dir"])


def events(job: str) -> list[dict]:
    """runner's job_events/*.json of the job, in order."""
    found = [json.loads(p.read_text()) for p in (artifact_dir(job) / "job_events").glob("*.json")]
    return sorted(found, key=lambda e: e["counter"])


def stats_event(job: str) -> dict:
    found = [e for e in events(job) if e["event"] == "playbook_on_stats"]
    assert len(found) == 1, f"{job}: {len(found)} playbook_on_stats events"
    return found[0]


@pytest.fixture(scope="module")
def secrets() -> dict[str, str]:
    """The credential's secret in the forms that could leak: as given, as user:password,
    and base64-encoded (the form of the Authorization header) with and without padding."""
    credential = json.loads((RESULTS / "credential.json").read_text())
    pair = f"{credential['username']}:{credential['password']}"
    b64_pair = base64.b64encode(pair.encode()).decode()
    b64_password = base64.b64encode(credential["password"].encode()).decode()
    return {"password": credential["password"], "user:password": pair, "base64(user:password)": b64_pair.rstrip("="),
            "base64(password)": b64_password.rstrip("=")}


# --- runner's status, events and artifacts --------------------------------------------------

@pytest.mark.parametrize("job", JOBS)
def test_job_succeeded(job):
    result = summary(job)
    stdout = artifact_dir(job) / "stdout"
    tail = "\n".join(stdout.read_text(errors="replace").splitlines()[-40:]) if stdout.exists() else "(no stdout)"
    assert (result["status"], result["rc"]) == ("successful", 0), f"{job} {result['status']}, rc {result['rc']}; its stdout ends:\n{tail}"
    assert result["statuses"] == ["starting", "running", "successful"]
    assert (artifact_dir(job) / "status").read_text() == "successful"
    assert (artifact_dir(job) / "rc").read_text() == "0"
    # the machine credential's key goes to ssh-agent, which runs ansible-playbook; the
    # credential's extra vars (env/tmp...) come before the launch's (env/extravars)
    command = json.loads((artifact_dir(job) / "command").read_text())["command"]
    private = summary(job)["private_data_dir"]
    assert command[:3] == ["ssh-agent", "sh", "-c"] and "&& ansible-playbook -u root " in command[3], command
    assert command[3].endswith(f" -e @{private}/env/extravars {job}.yml"), command
    assert f" -e @{private}/env/tmp" in command[3] and ("--diff" in command[3]) == (job == "site"), command


@pytest.mark.parametrize("job", JOBS)
def test_every_event_reached_the_event_handler_and_the_artifacts(job):
    """AWX stores what its event handler gets; runner writes the same events to job_events/."""
    found = events(job)
    assert [e["counter"] for e in found] == list(range(1, len(found) + 1))
    assert summary(job)["events_handled"] == len(found)
    # before the playbook: ssh-add saying it took the machine credential's key
    playbook = [e["event"] for e in found if e["event"] != "verbose"]
    assert playbook[0] == "playbook_on_start" and playbook[-1] == "playbook_on_stats"


@pytest.mark.parametrize("job", JOBS)
def test_job_ran_on_every_node(job):
    """spegel_hosts was answered blank: the playbooks run on all hosts."""
    stats = stats_event(job)["event_data"]
    assert set(stats["ok"]) == set(NODES), stats
    for key in ("failures", "dark"):
        assert not stats[key], f"{job}: {key} {stats[key]}"
    changed = stats["changed"]
    if job == "verify":
        assert not changed, f"verify changed {changed}"
    else:
        assert set(changed) == set(NODES), f"{job} changed only {changed}"


def test_site_rolled_one_node_per_batch():
    """spegel_serial "1" (a number typed into a text question): one play start per batch."""
    plays = [e["event_data"]["play"] for e in events("site") if e["event"] == "playbook_on_play_start"]
    assert plays.count("Roll the containerd changes through the fleet") == len(NODES), plays


def test_verify_stats_are_the_job_artifacts():
    """set_stats of verify is what AWX stores as the job's artifacts: the artifact_data of
    the playbook_on_stats event, as the event handler saw it and as runner wrote it."""
    artifact_data = stats_event("verify")["event_data"]["artifact_data"]
    assert summary("verify")["artifacts"] == artifact_data
    readiness = artifact_data["spegel_verify"]
    assert set(readiness) == set(NODES)
    for name, result in readiness.items():
        assert result["ready"] is True, f"{name}: {result}"
        assert {check: result["checks"][check]["ok"] for check in CHECKS} == dict.fromkeys(CHECKS, True), result


def test_only_verify_publishes_artifacts():
    for job in ("site", "uninstall"):
        assert not summary(job)["artifacts"]
        assert not stats_event(job)["event_data"].get("artifact_data")


# --- the survey answers as AWX sends them -------------------------------------------------------

def test_launch_sent_the_answers_as_awx_does():
    extra_vars = summary("site")["extra_vars"]
    assert extra_vars["spegel_hosts"] == ""  # optional text cleared
    assert extra_vars["mirror_ports"] == "30020"  # as pre-filled
    assert extra_vars["spegel_serial"] == "1"
    assert extra_vars["spegel_max_fail_percentage"] == 0  # left blank: AWX's survey default
    assert extra_vars["mirror_registries"] == "_default, docker.io"
    assert extra_vars["mirror_capabilities"] == ["pull", "resolve"]  # multiselect: a list
    assert extra_vars["containerd_restart"] == "true"  # multiple choice: a string
    assert extra_vars["containerd_restart_timeout"] == 90
    assert "containerd_use_local_image_pull" not in extra_vars  # optional choice left blank
    assert "mirror_authorization" not in extra_vars  # the credential brings it


def test_private_data_dir_is_laid_out_as_awx_does():
    private = Path(summary("site")["private_data_dir"])
    assert (private / "project" / "site.yml").is_file()
    assert os.access(private / "inventory" / "hosts", os.X_OK)
    extravars = (private / "env" / "extravars").read_text()
    assert "!unsafe 'mirror_registries': !unsafe '_default, docker.io'" in extravars
    cmdline = (private / "env" / "cmdline").read_text()
    assert cmdline.startswith("-u root --diff --forks=")
    credential_file = Path(cmdline.split("-e @", 1)[1].split()[0])
    assert credential_file.parent == private / "env" and "mirror_authorization" in credential_file.read_text()
    assert json.loads((private / "env" / "settings").read_text())["suppress_ansible_output"] is True


def test_site_wrote_what_was_answered(host):
    """Seen on the node right after the site job: a hosts.toml for each registry of the
    comma-separated answer, on the pre-filled port, with the dial
    timeout answered and the Authorization header the credential injected (file mode 0600)."""
    name = host.ansible.get_variables()["inventory_hostname"]
    files = json.loads((RESULTS / f"after_site.{name}.json").read_text())
    assert set(files) == {f"{HOSTS_DIR}/_default/hosts.toml", f"{HOSTS_DIR}/docker.io/hosts.toml"}
    for path, file in files.items():
        assert file["has_header"] and file["mode"] == "0600", f"{name}: {path}: {file['mode']}"
        hosts = tomllib.loads(file["text"])["host"]
        first = next(iter(hosts))
        assert first.endswith(":30020"), f"{name}: {path}: {first}"
        assert hosts[first]["capabilities"] == ["pull", "resolve"]
        assert hosts[first]["dial_timeout"] == "300ms"
        assert hosts[first]["header"] == {"Authorization": "AWX-CREDENTIAL-HEADER"}


# --- the credential's secret -------------------------------------------------------------------

@pytest.mark.parametrize("job", JOBS)
def test_secret_is_in_no_event_stdout_or_artifact(job, secrets):
    """Every file runner wrote for the job (job_events/*.json, stdout, command, status, rc,
    fact cache) and the job's summary, searched for the secret in each form."""
    searched = [p for p in artifact_dir(job).rglob("*") if p.is_file()] + [RESULTS / f"{job}.json"]
    assert any(p.parent.name == "job_events" for p in searched) and (artifact_dir(job) / "stdout").is_file()
    leaks = [f"{path} holds the {form}" for path in searched for form, value in secrets.items()
             if value in path.read_text(errors="replace")]
    assert not leaks


@pytest.mark.parametrize("job", JOBS)
def test_the_secret_was_handed_to_the_job(job, secrets):
    """The search above looks for the right strings: the job's own input (the credential's
    extra vars file under env/) has the password."""
    env = Path(summary(job)["private_data_dir"]) / "env"
    injected = [p for p in env.glob("tmp*") if secrets["password"] in p.read_text()]
    assert len(injected) == 1


# --- what uninstall left ------------------------------------------------------------------------

def test_uninstall_put_the_node_back(node):
    changed = node.changed_files()
    assert CONFIG_FILE not in changed, f"{node.name}: config.toml is not what it was before site"
    assert not {p for p in changed if not CONFIG_COPIES.match(p)}, f"{node.name}: {sorted(changed)}"
    assert not node.host.file(f"{HOSTS_DIR}/_default/hosts.toml").exists
    assert node.host.service("containerd").is_running
    with node.cri() as cri:
        assert cri.status()["RuntimeReady"], f"{node.name}: CRI runtime not ready"
