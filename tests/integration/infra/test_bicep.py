"""infra/main.bicep: tree-sitter-bicep syntax gate, pycep checks of ADR-009's resources."""

from __future__ import annotations

import functools
import json
import re
from typing import Any

import pytest
import tree_sitter
import tree_sitter_bicep
from pycep import BicepParser

from tests.integration.infra.conftest import ROOT

BICEP = ROOT / "infra" / "main.bicep"
ENVIRONMENTS = ("dev", "staging", "prod")
# ADR-009's environment table.
ADR_NAMES = {
    "dev": ("ibpicker-bot-dev", "ibpicker-kv-dev"),
    "staging": ("ibpicker-bot-staging", "ibpicker-kv-staging"),
    "prod": ("ibpicker-bot", "ibpicker-kv"),
}
# Built-in role definition ids (the same in every tenant).
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"


def syntax_errors(source: bytes) -> list[str]:
    """List the ERROR and MISSING nodes tree-sitter-bicep finds, as 'line:column kind'."""
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_bicep.language()))
    found: list[str] = []
    pending = [parser.parse(source).root_node]
    while pending:
        node = pending.pop()
        if node.is_error or node.is_missing:
            line, column = node.start_point
            found.append(
                f"{line + 1}:{column + 1} {'MISSING' if node.is_missing else 'ERROR'} {node.type}"
            )
        pending.extend(node.children)
    return found


@functools.cache
def template() -> dict[str, Any]:
    """main.bicep as pycep's JSON view (parsed once)."""
    parsed = BicepParser(cache=False).parse(file_path=BICEP)
    plain = json.loads(json.dumps(parsed))  # plain dicts and lists for the assertions
    assert isinstance(plain, dict)
    return plain


def body(name: str) -> dict[str, Any]:
    """The declared body of a resource, looking through an `if (...)` condition."""
    config = template()["resources"][name]["config"]
    assert isinstance(config, dict)
    inner = config["config"] if "condition" in config else config
    assert isinstance(inner, dict)
    return inner


def accessor(expression: Any) -> str:
    """Flatten pycep's property-accessor tree (`a.b.c`) into dotted text."""
    if isinstance(expression, str):
        return expression
    operands = expression["operator"]["operands"]
    return f"{accessor(operands['operand_1'])}.{accessor(operands['operand_2'])}"


def parameters_file(environment: str) -> dict[str, Any]:
    """The parameter values of one environment's parameters file."""
    path = ROOT / "infra" / f"main.{environment}.parameters.json"
    return {
        name: entry["value"] for name, entry in json.loads(path.read_text())["parameters"].items()
    }


def container() -> dict[str, Any]:
    """The bot container of the container app."""
    containers = body("app")["properties"]["template"]["containers"]
    assert len(containers) == 1
    found = containers[0]
    assert isinstance(found, dict)
    return found


def test_syntax_gate_finds_no_error_nodes() -> None:
    """tree-sitter-bicep parses main.bicep with no ERROR or MISSING node."""
    assert syntax_errors(BICEP.read_bytes()) == []


def test_syntax_gate_reports_a_broken_template() -> None:
    """The gate can fail: an unclosed object is reported with its position."""
    broken = b"resource x 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n  name: 'x'\n"
    assert syntax_errors(broken) != []


def test_exactly_one_replica_with_the_adrs_size() -> None:
    """min = max = 1 replica, 0.25 vCPU and 0.5 GiB, one revision at a time."""
    assert body("app")["properties"]["template"]["scale"] == {"minReplicas": 1, "maxReplicas": 1}
    assert container()["resources"] == {
        "cpu": {"function": {"type": "json", "parameters": {"arg_1": "0.25"}}},
        "memory": "0.5Gi",
    }
    assert body("app")["properties"]["configuration"]["activeRevisionsMode"] == "Single"


def test_probes_cover_startup_liveness_readiness_on_the_health_port() -> None:
    """Startup, liveness and readiness probes are HTTP GETs of /healthz on port 8080."""
    probes = {probe["type"]: probe["httpGet"] for probe in container()["probes"]}
    assert set(probes) == {"Startup", "Liveness", "Readiness"}
    assert {(probe["path"], probe["port"]) for probe in probes.values()} == {
        ("/healthz", "healthPort")
    }
    assert template()["variables"]["healthPort"]["value"] == 8080


def test_probe_timings_are_within_the_platforms_limits() -> None:
    """Each probe timing is inside Container Apps' ranges (the Bicep compiler cannot check here)."""
    limits = {
        "initialDelaySeconds": (0, 60),
        "periodSeconds": (1, 240),
        "timeoutSeconds": (1, 240),
        "failureThreshold": (1, 10),
    }
    for probe in container()["probes"]:
        for key, (low, high) in limits.items():
            value = probe.get(key, low)
            assert low <= value <= high, (probe["type"], key, value)


def test_app_environment_carries_identity_vault_blob_and_environment() -> None:
    """The bot gets its identity's client id, vault URL, blob account + container, env name."""
    env = {entry["name"]: entry["value"] for entry in container()["env"]}
    assert env["IBPICKER_ENVIRONMENT"] == "environmentName"
    assert env["IBPICKER_DATA_DIR"] == "dataMountPath"
    assert accessor(env["AZURE_CLIENT_ID"]) == "identity.properties.clientId"
    assert accessor(env["KEY_VAULT_URL"]) == "vault.properties.vaultUri"
    assert accessor(env["IBPICKER_BLOB_ACCOUNT_URL"]) == "storage.properties.primaryEndpoints.blob"
    assert accessor(env["IBPICKER_BLOB_CONTAINER"]) == "journalContainer.name"
    assert template()["parameters"]["journalContainerName"]["default"] == "ibpicker-journal"


def test_app_pulls_with_its_user_assigned_identity() -> None:
    """The app runs as the user-assigned identity and pulls images with it (no password)."""
    app = body("app")
    assert app["identity"]["type"] == "UserAssigned"
    assert list(app["identity"]["userAssignedIdentities"]) == ["'${identity.id}'"]
    (registry,) = app["properties"]["configuration"]["registries"]
    assert set(registry) == {"server", "identity"}
    assert accessor(registry["identity"]) == "identity.id"
    assert (
        template()["resources"]["identity"]["type"]
        == "Microsoft.ManagedIdentity/userAssignedIdentities"
    )


def test_registry_is_basic_with_the_admin_user_off() -> None:
    """Container Registry: Basic SKU, admin user disabled, no anonymous pull."""
    registry = body("registry")
    assert registry["sku"] == {"name": "Basic"}
    assert registry["properties"]["adminUserEnabled"] is False
    assert registry["properties"]["anonymousPullEnabled"] is False


def test_storage_is_hardened() -> None:
    """Storage: Standard_LRS Hot, HTTPS only, TLS 1.2, shared key and public blob access off."""
    storage = body("storage")
    assert storage["sku"] == {"name": "Standard_LRS"}
    properties = storage["properties"]
    expected = {
        "accessTier": "Hot",
        "supportsHttpsTrafficOnly": True,
        "minimumTlsVersion": "TLS1_2",
        "allowSharedKeyAccess": False,
        "allowBlobPublicAccess": False,
    }
    assert {key: properties[key] for key in expected} == expected


def test_blobs_are_versioned_soft_deleted_and_the_journal_container_private() -> None:
    """Blob versioning and soft delete are on; the journal container has no public access."""
    blobs = body("blobService")["properties"]
    assert blobs["isVersioningEnabled"] is True
    assert blobs["deleteRetentionPolicy"]["enabled"] is True
    assert blobs["containerDeleteRetentionPolicy"]["enabled"] is True
    assert body("journalContainer")["properties"] == {"publicAccess": "None"}


def test_key_vault_uses_rbac_soft_delete_and_purge_protection() -> None:
    """Key Vault: Standard SKU, RBAC authorization, soft delete and purge protection."""
    vault = body("vault")["properties"]
    assert vault["sku"]["name"] == "standard"
    assert vault["enableRbacAuthorization"] is True
    assert vault["enableSoftDelete"] is True
    assert vault["enablePurgeProtection"] is True


def test_logs_go_to_log_analytics_kept_30_days() -> None:
    """The Container Apps environment ships logs to a workspace that keeps them 30 days."""
    assert body("logAnalytics")["properties"]["retentionInDays"] == 30
    logs = body("appEnvironment")["properties"]["appLogsConfiguration"]
    assert logs["destination"] == "log-analytics"
    assert (
        accessor(logs["logAnalyticsConfiguration"]["customerId"])
        == "logAnalytics.properties.customerId"
    )


def test_exactly_three_role_assignments_each_on_its_narrowest_scope() -> None:
    """AcrPull on the registry, Blob Data Contributor on the container, Secrets User on the KV."""
    variables = template()["variables"]
    granted: dict[str, str] = {}
    for name, resource in template()["resources"].items():
        if resource["type"] != "Microsoft.Authorization/roleAssignments":
            continue
        assignment = body(name)
        assert (
            accessor(assignment["properties"]["principalId"]) == "identity.properties.principalId"
        )
        assert assignment["properties"]["principalType"] == "ServicePrincipal"
        role_variable = assignment["properties"]["roleDefinitionId"]["function"]["parameters"][
            "resource_name_1"
        ]
        granted[variables[role_variable]["value"]] = assignment["scope"]
    assert granted == {
        ACR_PULL: "registry",
        BLOB_DATA_CONTRIBUTOR: "journalContainer",
        KEY_VAULT_SECRETS_USER: "vault",
    }


def test_app_waits_for_its_role_assignments() -> None:
    """The app is created after its roles exist, so its first pull and secret read succeed."""
    depends = {accessor(item) for item in body("app")["dependsOn"]}
    assert depends == {"acrPull", "journalWriter", "secretsReader"}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_parameters_name_the_app_and_vault_as_the_adr_table(environment: str) -> None:
    """Each environment's parameters file names the app and vault as ADR-009's table does."""
    values = parameters_file(environment)
    assert values["environmentName"] == environment
    assert (values["containerAppName"], values["keyVaultName"]) == ADR_NAMES[environment]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_parameters_files_match_the_template(environment: str) -> None:
    """A parameters file sets only declared parameters and every one without a default."""
    declared = template()["parameters"]
    required = {name for name, parameter in declared.items() if parameter["default"] is None}
    supplied = set(parameters_file(environment))
    assert supplied <= set(declared)
    assert required <= supplied
    allowed = next(
        d["argument"] for d in declared["environmentName"]["decorators"] if d["type"] == "allowed"
    )
    assert allowed == list(ENVIRONMENTS)


def test_other_names_carry_the_environment_suffix_and_prod_none() -> None:
    """Derived names use `suffix`: '-dev' / '-staging', nothing for prod (as the ADR's table)."""
    condition = template()["variables"]["suffix"]["value"]["operator"]
    assert condition["type"] == "conditional"
    assert condition["operands"]["condition"]["operator"]["operands"] == {
        "operand_1": "environmentName",
        "operand_2": "prod",
    }
    assert (condition["operands"]["true_value"], condition["operands"]["false_value"]) == (
        "",
        "-${environmentName}",
    )
    for name in ("logAnalytics", "identity", "appEnvironment"):
        assert body(name)["name"].endswith("${suffix}"), name


def test_outputs_cover_what_the_workflow_reads() -> None:
    """Every output the workflow reads with jq exists, and the ones an operator needs too."""
    workflow = (ROOT / ".github" / "workflows" / "deploy.yml").read_text()
    read = set(re.findall(r"jq -r '\.(\w+)\.value'", workflow)) - {"parameters"}
    outputs = set(template()["outputs"])
    assert read
    assert read <= outputs
    assert {"registryLoginServer", "keyVaultUri", "identityClientId", "blobAccountUrl"} <= outputs
