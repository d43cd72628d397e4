"""The deployment files and the app agree: env names, health port, data folder, secret names."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from settings import SECRET_ENV, Settings, load_settings
from tests.integration.infra.conftest import ROOT
from tests.integration.infra.test_bicep import accessor, container, template
from tests.integration.infra.test_dockerfile import stages

# Values standing in for what Azure resolves at deployment time (the names are the point).
RESOLVED = {
    "dataMountPath": "/data",
    "identity.properties.clientId": "00000000-0000-0000-0000-000000000001",
    "vault.properties.vaultUri": "https://ibpicker-kv.vault.azure.net/",
    "storage.properties.primaryEndpoints.blob": "https://ibpickerprodabc.blob.core.windows.net/",
    "journalContainer.name": "ibpicker-journal",
}


def app_environment(environment: str) -> dict[str, str]:
    """The container app's environment variables as Azure would set them for one environment."""
    resolved = dict(RESOLVED, environmentName=environment)
    return {entry["name"]: resolved[accessor(entry["value"])] for entry in container()["env"]}


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_settings_accept_the_environment_the_infrastructure_sets(
    environment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Settings load from exactly the variables main.bicep sets (blob via managed identity)."""
    for name in list(os.environ):
        if name.startswith("IBPICKER_") or name in {"KEY_VAULT_URL", "AZURE_CLIENT_ID"}:
            monkeypatch.delenv(name)
    for name, value in app_environment(environment).items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.environment == environment
    assert settings.data_dir == Path("/data")
    assert settings.blob_backend == "managed-identity"
    assert settings.blob_container == "ibpicker-journal"
    assert settings.key_vault_url == "https://ibpicker-kv.vault.azure.net"
    assert settings.azure_client_id == RESOLVED["identity.properties.clientId"]


def test_health_port_is_the_same_in_app_image_and_probes() -> None:
    """The app's default health port is the one the HEALTHCHECK and the Bicep probes call."""
    port = Settings.model_fields["health_port"].default
    healthcheck = next(i.args for i in stages()[-1] if i.keyword == "HEALTHCHECK")
    assert re.search(rf"127\.0\.0\.1:{port}/healthz", healthcheck)
    assert template()["variables"]["healthPort"]["value"] == port


def test_image_data_volume_is_where_the_app_mounts_its_data() -> None:
    """The image's VOLUME, its IBPICKER_DATA_DIR and the app's volume mount are one path."""
    mount = container()["volumeMounts"][0]
    assert template()["variables"][mount["mountPath"]]["value"] == "/data"
    assert any(i.args == '["/data"]' for i in stages()[-1] if i.keyword == "VOLUME")


def test_deploy_guide_sets_exactly_the_secrets_the_app_reads() -> None:
    """docs/deploy.md stores the four Key Vault secret names the app looks up."""
    guide = (ROOT / "docs" / "deploy.md").read_text()
    loop = re.search(r"for name in ([a-z\- ]+); do", guide)
    assert loop
    assert loop[1].split() == list(SECRET_ENV)
