"""The CI/CD workflow: actionlint + shellcheck clean, ADR-009's triggers and jobs, least rights."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.integration.infra.conftest import ROOT, tool

WORKFLOW = ROOT / ".github" / "workflows" / "deploy.yml"
AZURE_JOBS = ("docker", "deploy")
# Current major of each action used (Node 24 runtimes); older majors are flagged below.
CURRENT_MAJORS = {
    "actions/checkout": 6,
    "actions/setup-python": 6,
    "actions/setup-node": 6,
    "azure/login": 3,
}


def workflow() -> dict[Any, Any]:
    """The workflow file, parsed (YAML 1.1 reads the `on` key as True)."""
    data = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(data, dict)
    return data


def triggers() -> dict[str, Any]:
    """The workflow's `on:` table."""
    data = workflow()
    on = data.get("on", data.get(True))
    assert isinstance(on, dict)
    return on


def jobs() -> dict[str, Any]:
    """The workflow's jobs by id."""
    found = workflow()["jobs"]
    assert isinstance(found, dict)
    return found


def steps(job: str) -> list[dict[str, Any]]:
    """The steps of one job."""
    found = jobs()[job]["steps"]
    assert isinstance(found, list)
    return found


def run_scripts() -> list[str]:
    """Every `run:` script in the workflow."""
    return [step["run"] for job in jobs() for step in steps(job) if "run" in step]


def actionlint(path: Path) -> subprocess.CompletedProcess[str]:
    """Run actionlint with the venv's shellcheck wired in explicitly."""
    return subprocess.run(
        [tool("actionlint"), "-shellcheck", str(tool("shellcheck")), "-no-color", str(path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )


def test_actionlint_with_shellcheck_reports_nothing() -> None:
    """actionlint (with shellcheck on every run: block) finds nothing in the workflow."""
    result = actionlint(WORKFLOW)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_shellcheck_really_checks_run_blocks(tmp_path: Path) -> None:
    """The shellcheck wiring works: an unquoted variable in a run: block is reported."""
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo $X\n"
    )
    result = actionlint(bad)
    assert result.returncode != 0
    assert "SC2086" in result.stdout


def test_triggers_are_the_adrs() -> None:
    """push and pull_request on main, and workflow_dispatch choosing dev, staging or prod."""
    on = triggers()
    assert on["push"] == {"branches": ["main"]}
    assert on["pull_request"] == {"branches": ["main"]}
    environment = on["workflow_dispatch"]["inputs"]["environment"]
    assert environment["type"] == "choice"
    assert environment["options"] == ["dev", "staging", "prod"]


def test_build_runs_on_every_trigger_and_runs_the_test_command() -> None:
    """The build job has no condition, sets up Python 3.11 and Node 20, and runs scripts/test."""
    build = jobs()["build"]
    assert "if" not in build
    versions = {
        step["uses"].split("@")[0]: step.get("with", {})
        for step in steps("build")
        if "uses" in step
    }
    assert versions["actions/setup-python"]["python-version"] == "3.11"
    assert versions["actions/setup-node"]["node-version"] == "20"
    assert [step["run"] for step in steps("build") if "run" in step] == ["scripts/test"]


def test_deploy_jobs_run_only_on_manual_dispatch_in_order() -> None:
    """docker, deploy and notify need workflow_dispatch and run build → docker → deploy → notify."""
    all_jobs = jobs()
    for name in ("docker", "deploy", "notify"):
        assert "github.event_name == 'workflow_dispatch'" in all_jobs[name]["if"]
    assert all_jobs["docker"]["needs"] == "build"
    assert all_jobs["deploy"]["needs"] == "docker"
    assert "deploy" in all_jobs["notify"]["needs"]
    assert "always()" in all_jobs["notify"]["if"]


def test_permissions_are_least_privilege() -> None:
    """Read-only by default; only the Azure jobs get id-token: write; nothing else writes."""
    assert workflow()["permissions"] == {"contents": "read"}
    for name, job in jobs().items():
        granted = job.get("permissions", {})
        writes = {scope for scope, level in granted.items() if level == "write"}
        assert writes == ({"id-token"} if name in AZURE_JOBS else set()), name


def test_azure_login_is_oidc_with_the_azure_credentials_fallback() -> None:
    """Each Azure job logs in by OIDC (client/tenant/subscription ids), else AZURE_CREDENTIALS."""
    for name in AZURE_JOBS:
        logins = [step for step in steps(name) if step.get("uses", "").startswith("azure/login@")]
        inputs = [set(step["with"]) for step in logins]
        assert inputs == [{"client-id", "tenant-id", "subscription-id"}, {"creds"}], name
        assert "AZURE_CREDENTIALS" in logins[1]["with"]["creds"]
        assert {logins[0]["if"], logins[1]["if"]} == {
            "env.USE_OIDC == 'true'",
            "env.USE_OIDC != 'true'",
        }


def test_actions_are_pinned_to_current_majors() -> None:
    """Every action is pinned to a major tag, and that major is the current one."""
    used = [step["uses"] for job in jobs() for step in steps(job) if "uses" in step]
    assert used
    for reference in used:
        match = re.fullmatch(r"([\w.-]+/[\w.-]+)@v(\d+)", reference)
        assert match, reference
        assert int(match[2]) == CURRENT_MAJORS[match[1]], reference


def test_concurrency_is_per_environment_and_never_cancels_a_deploy() -> None:
    """Deploys share a group per chosen environment and are not cancelled; CI runs per ref are."""
    concurrency = workflow()["concurrency"]
    assert "inputs.environment" in concurrency["group"]
    assert concurrency["cancel-in-progress"] == "${{ github.event_name != 'workflow_dispatch' }}"


def test_run_blocks_never_expand_expressions_or_secrets_inline() -> None:
    """No run: script contains ${{ }}: values (secrets included) reach scripts only through env."""
    offenders = [script for script in run_scripts() if "${{" in script]
    assert offenders == []
    assert not any(re.search(r"\bset -x\b|--debug", script) for script in run_scripts())


def test_docker_job_tags_the_image_with_the_commit_sha() -> None:
    """The docker job builds in ACR and tags ibpicker:<commit SHA>."""
    script = "\n".join(step.get("run", "") for step in steps("docker"))
    assert "az acr build" in script
    assert '--image "ibpicker:${GITHUB_SHA}"' in script


def test_deploy_job_builds_what_ifs_deploys_and_rolls_the_image() -> None:
    """The deploy job compiles the Bicep, runs what-if, deploys, then updates the app's image."""
    script = "\n".join(step.get("run", "") for step in steps("deploy"))
    order = [
        "az bicep build",
        "az deployment group what-if",
        "az deployment group create",
        "az containerapp update",
    ]
    positions = [script.index(command) for command in order]
    assert positions == sorted(positions)
    assert '--image "$IMAGE"' in script


def test_notify_posts_to_discord_only_when_the_webhook_is_configured() -> None:
    """notify writes the run summary and calls the webhook only when DISCORD_WEBHOOK_URL is set."""
    summary, webhook = steps("notify")
    assert "GITHUB_STEP_SUMMARY" in summary["run"]
    assert webhook["if"] == "env.HAS_WEBHOOK == 'true'"
    assert webhook["env"]["DISCORD_WEBHOOK_URL"] == "${{ secrets.DISCORD_WEBHOOK_URL }}"
