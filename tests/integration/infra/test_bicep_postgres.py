"""main.bicep past one replica: the optional PostgreSQL Flexible Server and the shard-group apps,
and the default deployment left exactly as ADR-009's.

``adr009_template.json`` is pycep's view of infra/main.bicep as it was before the PostgreSQL
option (commit 13ab26c): its parameters' defaults, variables, resources and outputs. What a
deployment creates is evaluated by ``bicep_eval`` (Azure's compiler is not installable here).
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any

import pytest
from pycep import BicepParser

from events.pg_auth import wants_entra
from settings import load_settings, parse_shard_ids
from tests.integration.infra.bicep_eval import Deployment, body
from tests.integration.infra.conftest import ROOT
from tests.integration.infra.test_bicep import (
    ENVIRONMENTS,
    parameters_file,
    syntax_errors,
    template,
)

ADR009 = json.loads((ROOT / "tests" / "integration" / "infra" / "adr009_template.json").read_text())
ADMIN_MODULE = ROOT / "infra" / "modules" / "postgres-admin.bicep"
NEW_RESOURCES = {
    "postgres",
    "postgresTls",
    "postgresDatabase",
    "postgresAzureAccess",
    "shardApps",
}


@functools.cache
def admin_module() -> dict[str, Any]:
    """infra/modules/postgres-admin.bicep as pycep's JSON view."""
    parsed = BicepParser(cache=False).parse(file_path=ADMIN_MODULE)
    plain = json.loads(json.dumps(parsed))
    assert isinstance(plain, dict)
    return plain


def test_the_admin_module_passes_the_syntax_gate_and_is_the_one_main_uses() -> None:
    """tree-sitter-bicep finds no error in the module; main.bicep refers to it by that path."""
    assert syntax_errors(ADMIN_MODULE.read_bytes()) == []
    module = template()["modules"]["postgresAdmin"]["detail"]["path"]
    assert ROOT / "infra" / module == ADMIN_MODULE


def deployment(environment: str = "prod", **parameters: Any) -> Deployment:
    """A deployment of one environment's parameters file plus ``parameters``."""
    return Deployment(template(), {**parameters_file(environment), **parameters})


def env_of(app: dict[str, Any]) -> dict[str, str]:
    """A container app's environment variables by name."""
    (container,) = app["properties"]["template"]["containers"]
    return {entry["name"]: entry["value"] for entry in container["env"]}


def test_the_template_keeps_every_adr009_resource_parameter_and_output_as_it_was() -> None:
    """Each resource of the ADR's template is declared with the same type and the same body
    (the single app's condition aside), each of its parameters with the same default, each
    output the same; the only new resources are the PostgreSQL ones and the shard apps."""
    resources = template()["resources"]
    assert set(resources) - set(ADR009["resources"]) == NEW_RESOURCES
    assert set(template().get("modules", {})) == {"postgresAdmin"}
    for name, before in ADR009["resources"].items():
        assert resources[name]["type"] == before["type"], name
        assert body(template(), name) == body(ADR009, name), name
    declared = template()["parameters"]
    for name, default in ADR009["parameters"].items():
        assert declared[name]["default"] == default, name
    for name, before in ADR009["outputs"].items():
        assert template()["outputs"][name] == before, name


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_default_deployment_creates_exactly_adr009s_resources(environment: str) -> None:
    """With an environment's parameters file alone (every new parameter at its default), the
    deployment creates the ADR's resources, the single app among them, and nothing new; with
    deployApp=false (the bootstrap) everything but the app, as before."""
    adr = set(ADR009["resources"])
    assert set(deployment(environment).created()) == adr
    assert set(deployment(environment, deployApp=False).created()) == adr - {"app"}
    declared = template()["parameters"]
    assert declared["journalBackend"]["default"] == "sqlite"
    assert (declared["replicaCount"]["default"], declared["shardCount"]["default"]) == (1, 1)


def test_the_postgres_server_signs_in_by_entra_id_only_with_tls_required() -> None:
    """journalBackend=postgresql adds a Flexible Server with Entra ID sign-in on and password
    sign-in off (no administrator login or password anywhere), the app's identity as its Entra
    administrator (a service principal named as the identity), require_secure_transport on, the
    journal's database, and the firewall rule that admits Azure's addresses only; the single
    app gives way to the shard apps."""
    pg = deployment(journalBackend="postgresql")
    created = set(pg.created())
    assert created >= NEW_RESOURCES | {"postgresAdmin"}
    assert "app" not in created
    server = pg.resource("postgres")
    auth = server["properties"]["authConfig"]
    assert (auth["activeDirectoryAuth"], auth["passwordAuth"]) == ("Enabled", "Disabled")
    text = json.dumps(body(template(), "postgres")).lower()
    assert "administratorlogin" not in text
    assert "password" not in text.replace("passwordauth", "")
    assert server["name"] == "ibpicker-pg-tok12345"
    admin = pg.resource("postgresAdmin")["params"]
    assert admin["serverName"] == "ibpicker-pg-tok12345"
    assert admin["principalId"] == "<identity.properties.principalId>"
    assert admin["principalName"] == "ibpicker-id"
    # The module makes that principal the server's administrator, as a service principal.
    module = admin_module()["resources"]
    assert module["server"]["type"] == "Microsoft.DBforPostgreSQL/flexibleServers"
    assert module["server"]["config"]["name"] == "serverName"
    declared = body(admin_module(), "admin")
    assert (declared["parent"], declared["name"]) == ("server", "principalId")
    assert declared["properties"] == {
        "principalType": "ServicePrincipal",
        "principalName": "principalName",
        "tenantId": "tenantId",
    }
    tls = pg.resource("postgresTls")
    assert (tls["name"], tls["properties"]["value"]) == ("require_secure_transport", "on")
    rule = pg.resource("postgresAzureAccess")["properties"]
    assert (rule["startIpAddress"], rule["endIpAddress"]) == ("0.0.0.0", "0.0.0.0")
    assert pg.resource("postgresDatabase")["name"] == "ibpicker"


@pytest.mark.parametrize(
    ("replicas", "shards", "groups"),
    [
        (1, 1, ["0-0"]),
        (2, 4, ["0-1", "2-3"]),
        (3, 8, ["0-1", "2-3", "4-7"]),
        (4, 4, ["0-0", "1-1", "2-2", "3-3"]),
    ],
)
def test_each_shard_group_runs_in_one_app_of_one_replica(
    replicas: int, shards: int, groups: list[str]
) -> None:
    """replicaCount apps, each exactly one replica, share out the shards in contiguous groups
    (the last takes the remainder): each shard in exactly one app, each app told the total, its
    ids, its own replica name and the journal's URL."""
    pg = deployment("dev", journalBackend="postgresql", replicaCount=replicas, shardCount=shards)
    copies = pg.created()["shardApps"]
    apps = [pg.resource("shardApps", copy) for copy in copies]
    assert [env_of(app)["IBPICKER_SHARD_IDS"] for app in apps] == groups
    owned = [parse_shard_ids(env_of(app)["IBPICKER_SHARD_IDS"], shards) for app in apps]
    assert sorted(s for ids in owned for s in ids) == list(range(shards))
    names = [f"ibpicker-bot-dev-{i}" for i in range(replicas)]
    assert [app["name"] for app in apps] == names
    assert [env_of(app)["IBPICKER_REPLICA_ID"] for app in apps] == names
    assert {env_of(app)["IBPICKER_SHARDS"] for app in apps} == {str(shards)}
    assert all(
        app["properties"]["template"]["scale"] == {"minReplicas": 1, "maxReplicas": 1}
        for app in apps
    )
    assert pg.evaluate(template()["outputs"]["botAppNames"]["value"]) == names


def test_an_explicit_shard_assignment_is_used_as_given() -> None:
    """shardAssignment overrides the contiguous groups, one entry per replica, verbatim."""
    pg = deployment(
        journalBackend="postgresql", replicaCount=2, shardCount=4, shardAssignment=["0,2", "1,3"]
    )
    apps = [pg.resource("shardApps", copy) for copy in pg.created()["shardApps"]]
    assert [env_of(app)["IBPICKER_SHARD_IDS"] for app in apps] == ["0,2", "1,3"]


def test_the_journal_url_signs_in_with_the_apps_identity_over_verified_tls() -> None:
    """The shard apps' IBPICKER_JOURNAL_URL has no password, names the identity as its user and
    the server's Azure host, requires a verified TLS connection, and is a URL the journal signs
    in to with the managed identity's token (events.pg_auth.wants_entra)."""
    pg = deployment("staging", journalBackend="postgresql")
    (copy,) = pg.created()["shardApps"]
    url = env_of(pg.resource("shardApps", copy))["IBPICKER_JOURNAL_URL"]
    assert url == (
        "postgresql://ibpicker-id-staging@ibpicker-pg-staging-tok12345.postgres.database.azure.com"
        ":5432/ibpicker?sslmode=verify-full&sslrootcert=/etc/ssl/certs/ca-certificates.crt"
    )
    assert wants_entra(url)
    # That CA bundle is Debian's ca-certificates, which the image's python slim base carries.
    assert "ARG PYTHON_IMAGE=python:3.11-slim-bookworm" in (ROOT / "Dockerfile").read_text()


def test_settings_accept_the_environment_of_each_shard_app(monkeypatch: pytest.MonkeyPatch) -> None:
    """A shard app's environment, as Azure sets it, loads into settings: the PostgreSQL journal,
    the shard total and this app's shard ids, and the managed identity's client id."""
    pg = deployment(journalBackend="postgresql", replicaCount=2, shardCount=4)
    app = pg.resource("shardApps", pg.created()["shardApps"][1])
    resolved = {
        "<identity.properties.clientId>": "00000000-0000-0000-0000-000000000001",
        "<vault.properties.vaultUri>": "https://ibpicker-kv.vault.azure.net/",
        "<storage.properties.primaryEndpoints.blob>": "https://ibpickerprod.blob.core.windows.net/",
    }
    for name in [n for n in os.environ if n.startswith("IBPICKER_")]:
        monkeypatch.delenv(name)
    for name, value in env_of(app).items():
        monkeypatch.setenv(name, resolved.get(value, value))
    settings = load_settings()
    assert settings.journal_database is not None
    assert wants_entra(settings.journal_database)
    assert (settings.shards, settings.shard_ids) == (4, (2, 3))
    assert settings.azure_client_id == "00000000-0000-0000-0000-000000000001"


def test_the_workflow_rolls_every_bot_app_the_template_names() -> None:
    """The deploy workflow reads the botAppNames output and updates each app in turn; by
    default that output is the single app alone (the ADR's one rollout)."""
    workflow = (ROOT / ".github" / "workflows" / "deploy.yml").read_text()
    assert "jq -c '.botAppNames.value'" in workflow
    assert 'az containerapp update --name "$app"' in workflow
    assert "botAppNames" in template()["outputs"]
    for environment in ENVIRONMENTS:
        default = deployment(environment)
        names = default.evaluate(template()["outputs"]["botAppNames"]["value"])
        assert names == [parameters_file(environment)["containerAppName"]]


def test_the_deploy_guide_describes_every_new_parameter() -> None:
    """docs/deploy.md's parameter table names each parameter added past ADR-009's template."""
    guide = (ROOT / "docs" / "deploy.md").read_text()
    added = set(template()["parameters"]) - set(ADR009["parameters"])
    assert added
    assert {name for name in added if f"`{name}`" not in guide} == set()
