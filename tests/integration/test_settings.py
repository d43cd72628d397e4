"""Settings and secrets: Key Vault through the real managed-identity credential and the real
``SecretClient`` (against local stand-ins), the environment path, and that no secret leaks."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from events.clock import SystemClock
from settings import (
    SECRET_ENV,
    MissingSecretsError,
    Secrets,
    Settings,
    SettingsError,
    default_data_dir,
    load_secrets,
    load_settings,
)
from sync.azure_blob import AzureBlobStore
from sync.local_blob import LocalBlobStore
from sync.stores import open_blob_store
from tests.support import azurite as azurite_support
from tests.support import identity as identity_support
from tests.support import keyvault as keyvault_support
from tests.support.azurite import Azurite
from tests.support.identity import CLIENT_ID, IdentityEndpoint
from tests.support.keyvault import KeyVaultStandIn

azurite = azurite_support.azurite
identity_endpoint = identity_support.identity_endpoint
key_vault = keyvault_support.key_vault

VAULT_SECRETS = {
    "discord-token": "MTA5ODc2NTQzMjEwOTg3NjU0Mw.Gx1y2z.discord-secret-value-0001",
    "uw-api-key": "uw-secret-value-0002",
    "anthropic-api-key": "sk-ant-secret-value-0003",
    "finnhub-api-key": "finnhub-secret-value-0004",
}
ENV_SECRETS = {env: f"env-{name}-value-7777" for name, env in SECRET_ENV.items()}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each test starts from an environment with none of our variables (and a temporary home)."""
    import os

    for name in list(os.environ):
        if name.startswith("IBPICKER_") or name in {
            *SECRET_ENV.values(),
            "KEY_VAULT_URL",
            "AZURE_CLIENT_ID",
            "IDENTITY_ENDPOINT",
            "IDENTITY_HEADER",
            "DISCORD_GUILD_ID",
        }:
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


def vault_settings(vault: KeyVaultStandIn) -> Settings:
    """Settings as in Azure: a vault URL and the identity's client id."""
    return load_settings(KEY_VAULT_URL=vault.url, AZURE_CLIENT_ID=CLIENT_ID)


# -- Key Vault ------------------------------------------------------------------------------------


async def test_secrets_come_from_key_vault_through_the_managed_identity(
    identity_endpoint: IdentityEndpoint,
    key_vault: KeyVaultStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With KEY_VAULT_URL, all four secrets come from the vault (env values are ignored), the
    token is asked for the vault's resource with our client id, and the 401 challenge was met."""
    key_vault.secrets.update(VAULT_SECRETS)
    monkeypatch.setenv("DISCORD_TOKEN", "env-value-that-must-be-ignored")
    secrets = await load_secrets(
        vault_settings(key_vault), key_vault_options=key_vault.client_options
    )
    loaded = {name: value.get_secret_value() for name in SECRET_ENV if (value := secrets.get(name))}
    assert loaded == VAULT_SECRETS
    assert secrets.features_off() == []
    assert sorted(key_vault.asked) == sorted(SECRET_ENV)
    assert key_vault.unauthenticated >= 1
    assert ("https://vault.azure.net", CLIENT_ID) in identity_endpoint.requests


async def test_missing_required_secrets_in_key_vault_are_all_named(
    identity_endpoint: IdentityEndpoint, key_vault: KeyVaultStandIn
) -> None:
    """Two required secrets absent from the vault: one error naming both (and the vault)."""
    key_vault.secrets["uw-api-key"] = VAULT_SECRETS["uw-api-key"]
    with pytest.raises(MissingSecretsError) as caught:
        await load_secrets(
            vault_settings(key_vault),
            required=("discord-token", "uw-api-key", "finnhub-api-key"),
            key_vault_options=key_vault.client_options,
        )
    assert caught.value.missing == ("discord-token", "finnhub-api-key")
    assert "discord-token, finnhub-api-key" in str(caught.value)
    assert key_vault.url in str(caught.value)


async def test_optional_secrets_missing_from_key_vault_turn_their_features_off(
    identity_endpoint: IdentityEndpoint, key_vault: KeyVaultStandIn
) -> None:
    """Only the required Discord token in the vault: the other three are None and reported off."""
    key_vault.secrets["discord-token"] = VAULT_SECRETS["discord-token"]
    secrets = await load_secrets(
        vault_settings(key_vault), key_vault_options=key_vault.client_options
    )
    assert secrets.uw_api_key is None
    assert secrets.anthropic_api_key is None
    off = secrets.features_off()
    assert [feature.secret for feature in off] == [
        "uw-api-key",
        "anthropic-api-key",
        "finnhub-api-key",
    ]
    assert all(key_vault.url in str(feature) for feature in off)
    assert "Strategy drafting with Claude" in str(off[1])


async def test_key_vault_without_a_managed_identity_fails_at_once() -> None:
    """KEY_VAULT_URL on a machine without IDENTITY_ENDPOINT (or without AZURE_CLIENT_ID) is
    refused in well under a second, naming what is missing, instead of probing for 5-13 s."""
    started = time.monotonic()
    with pytest.raises(SettingsError, match="IDENTITY_ENDPOINT"):
        await load_secrets(
            load_settings(KEY_VAULT_URL="https://kv.example.net", AZURE_CLIENT_ID=CLIENT_ID)
        )
    with pytest.raises(SettingsError, match="AZURE_CLIENT_ID"):
        await load_secrets(load_settings(KEY_VAULT_URL="https://kv.example.net"))
    assert time.monotonic() - started < 1


async def test_an_untrusted_key_vault_certificate_is_a_clear_error(
    identity_endpoint: IdentityEndpoint, key_vault: KeyVaultStandIn
) -> None:
    """A vault whose TLS certificate is not trusted is a SettingsError naming the vault."""
    with pytest.raises(SettingsError, match="cannot read secrets from Key Vault"):
        await load_secrets(
            vault_settings(key_vault),
            key_vault_options={"verify_challenge_resource": False, "retry_total": 0},
        )


# -- environment ----------------------------------------------------------------------------------


async def test_without_key_vault_secrets_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No KEY_VAULT_URL: DISCORD_TOKEN and friends are used; an unset or empty one is off."""
    monkeypatch.setenv("DISCORD_TOKEN", ENV_SECRETS["DISCORD_TOKEN"])
    monkeypatch.setenv("UW_API_KEY", ENV_SECRETS["UW_API_KEY"])
    monkeypatch.setenv("FINNHUB_API_KEY", "")
    secrets = await load_secrets(load_settings())
    assert secrets.discord_token is not None
    assert secrets.discord_token.get_secret_value() == ENV_SECRETS["DISCORD_TOKEN"]
    assert secrets.get("uw-api-key") is not None
    assert [str(f) for f in secrets.features_off()] == [
        "Strategy drafting with Claude: off (no anthropic-api-key in environment)",
        "Finnhub quotes, earnings calendar and company news: off "
        "(no finnhub-api-key in environment)",
    ]


async def test_a_missing_required_environment_secret_names_its_variable() -> None:
    """No DISCORD_TOKEN and no vault: the error names the secret and the variable to set."""
    with pytest.raises(MissingSecretsError, match=r"discord-token.*DISCORD_TOKEN"):
        await load_secrets(load_settings())
    secrets = await load_secrets(load_settings(), required=())
    assert len(secrets.features_off()) == 4


def test_a_secret_value_is_its_plain_text_or_none_when_absent() -> None:
    """``Secrets.value`` (what the bot, the console and the market CLI hand to the providers)
    is the plain text of a present secret and None for an absent one; repr stays redacted."""
    secrets = Secrets(uw_api_key=SecretStr("uw-plain-value-0042"))
    assert secrets.value("uw-api-key") == "uw-plain-value-0042"
    assert secrets.value("finnhub-api-key") is None
    assert "uw-plain-value-0042" not in repr(secrets)


# -- no leaks -------------------------------------------------------------------------------------


async def test_no_secret_value_appears_in_logs_reprs_or_errors(
    identity_endpoint: IdentityEndpoint,
    key_vault: KeyVaultStandIn,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every log record (DEBUG, azure's loggers included), repr, str, dump and error message made
    while loading secrets from the vault and from the environment is free of every secret value."""
    caplog.set_level(logging.DEBUG)
    for name in ("azure", "azure.core", "azure.identity", "azure.keyvault", "settings"):
        caplog.set_level(logging.DEBUG, logger=name)
    connection_key = "QWNjb3VudEtleVNlY3JldFZhbHVlMDAwNQ=="
    key_vault.secrets.update(VAULT_SECRETS)
    seen: list[str] = []

    vault_config = vault_settings(key_vault)
    from_vault = await load_secrets(
        vault_config, required=tuple(SECRET_ENV), key_vault_options=key_vault.client_options
    )
    del key_vault.secrets["finnhub-api-key"]
    with pytest.raises(MissingSecretsError) as missing:
        await load_secrets(
            vault_config, required=tuple(SECRET_ENV), key_vault_options=key_vault.client_options
        )
    seen.append(str(missing.value))

    for env, value in ENV_SECRETS.items():
        monkeypatch.setenv(env, value)
    monkeypatch.setenv(
        "IBPICKER_BLOB_CONNECTION_STRING",
        f"DefaultEndpointsProtocol=http;AccountName=a;AccountKey={connection_key};",
    )
    env_config = load_settings()
    from_env = await load_secrets(env_config)
    monkeypatch.setenv("IBPICKER_BLOB_ACCOUNT_URL", "https://a.blob.core.windows.net")
    with pytest.raises(SettingsError) as invalid:
        load_settings()
    seen.append(str(invalid.value))

    for thing in (vault_config, env_config, from_vault, from_env):
        seen += [repr(thing), str(thing), thing.model_dump_json(), repr(thing.model_dump())]
    seen += [str(feature) for feature in from_vault.features_off() + from_env.features_off()]
    seen.append(caplog.text)
    seen += [repr(record.args) for record in caplog.records]
    assert any(record.name.startswith("azure.") for record in caplog.records), "azure logs seen"
    assert from_env.discord_token is not None  # the values were really loaded
    assert env_config.blob_connection_string is not None
    everything = "\n".join(seen)
    for value in [*VAULT_SECRETS.values(), *ENV_SECRETS.values(), connection_key]:
        assert value not in everything


# -- settings -------------------------------------------------------------------------------------


def test_defaults_put_everything_under_the_per_user_data_folder(tmp_path: Path) -> None:
    """With nothing set: the XDG data folder, a local blob folder under it, port 8080, local env."""
    config = load_settings()
    assert config.data_dir == tmp_path / "xdg" / "ibpicker"
    assert config.local_blob_dir == tmp_path / "xdg" / "ibpicker" / "blob"
    assert (config.blob_backend, config.blob_container) == ("local", "ibpicker-journal")
    assert (config.health_port, config.environment, config.durable_ack) == (8080, "local", False)


def test_default_data_dir_is_ibpicker_data_dir_first_then_the_per_user_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The data folder a command uses without --data-dir: IBPICKER_DATA_DIR (``~`` expanded),
    else the per-user folder under XDG_DATA_HOME, else under ~/.local/share."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("IBPICKER_DATA_DIR", "~/journal-here")
    assert default_data_dir() == tmp_path / "home" / "journal-here"
    monkeypatch.delenv("IBPICKER_DATA_DIR")
    assert default_data_dir() == tmp_path / "xdg" / "ibpicker"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_data_dir() == tmp_path / "home" / ".local" / "share" / "ibpicker"


def test_environment_variables_are_read_and_typed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Each IBPICKER_* variable (and DISCORD_GUILD_ID) lands typed in its field."""
    values = {
        "IBPICKER_DATA_DIR": str(tmp_path / "data"),
        "IBPICKER_BLOB_DIR": str(tmp_path / "blobs"),
        "IBPICKER_BLOB_CONTAINER": "journal-dev",
        "IBPICKER_DURABLE_ACK": "1",
        "IBPICKER_SEGMENT_MAX_EVENTS": "250",
        "IBPICKER_SEGMENT_MAX_AGE_S": "0.5",
        "IBPICKER_HEALTH_PORT": "9090",
        "IBPICKER_ENVIRONMENT": "staging",
        "DISCORD_GUILD_ID": "123456789012345678",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    config = load_settings()
    assert config.data_dir == tmp_path / "data"
    assert config.local_blob_dir == tmp_path / "blobs"
    assert config.blob_container == "journal-dev"
    assert config.durable_ack is True
    assert (config.segment_max_events, config.segment_max_age_s) == (250, 0.5)
    assert (config.health_port, config.environment) == (9090, "staging")
    assert config.discord_guild_id == 123456789012345678


def test_invalid_settings_name_every_bad_variable_without_its_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Several bad variables give one SettingsError naming each, and quoting none of the values."""
    monkeypatch.setenv("IBPICKER_HEALTH_PORT", "port-value-xyz")
    monkeypatch.setenv("IBPICKER_ENVIRONMENT", "production-value-xyz")
    monkeypatch.setenv("KEY_VAULT_URL", "http://vault-value-xyz")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    for name in ("IBPICKER_HEALTH_PORT", "IBPICKER_ENVIRONMENT", "KEY_VAULT_URL"):
        assert name in message
    assert "value-xyz" not in message


def test_an_account_url_needs_the_identity_client_id(monkeypatch: pytest.MonkeyPatch) -> None:
    """IBPICKER_BLOB_ACCOUNT_URL without AZURE_CLIENT_ID is refused at settings time."""
    monkeypatch.setenv("IBPICKER_BLOB_ACCOUNT_URL", "https://acct.blob.core.windows.net")
    with pytest.raises(SettingsError, match="AZURE_CLIENT_ID"):
        load_settings()


def test_ibpicker_now_pins_the_clock_at_an_instant_with_its_offset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """IBPICKER_NOW with a UTC offset (Z or -05:00) gives a clock standing at that instant in UTC;
    unset (or empty), the clock is the real one."""
    monkeypatch.setenv("IBPICKER_NOW", "2026-12-31T19:00:00-05:00")
    clock = load_settings().clock()
    assert clock.now() == datetime(2027, 1, 1, 0, 0, tzinfo=UTC)
    assert clock.now() == clock.now()  # it stands still
    assert clock.now().utcoffset() == timedelta(0)
    monkeypatch.setenv("IBPICKER_NOW", "2028-02-29T21:00:00Z")
    assert load_settings().clock().now() == datetime(2028, 2, 29, 21, 0, tzinfo=UTC)
    monkeypatch.setenv("IBPICKER_NOW", " ")
    assert isinstance(load_settings().clock(), SystemClock)
    monkeypatch.delenv("IBPICKER_NOW")
    assert isinstance(load_settings().clock(), SystemClock)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("2026-12-03T21:30:00", "no UTC offset"),  # naive: a different instant on each machine
        ("2026-12-03", "no UTC offset"),
        ("1764797400", "not an instant"),  # Unix seconds, which pydantic alone would take
        ("next tuesday", "not an instant"),
        ("2026-13-03T21:30:00Z", "not an instant"),
    ],
)
def test_a_bad_ibpicker_now_is_refused_naming_the_variable_and_the_format(
    monkeypatch: pytest.MonkeyPatch, value: str, problem: str
) -> None:
    """An IBPICKER_NOW that is not an ISO instant with an offset is a SettingsError naming the
    variable, what is wrong and the expected format."""
    monkeypatch.setenv("IBPICKER_NOW", value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert f"IBPICKER_NOW: {problem}: expected an ISO 8601 instant with a UTC offset" in message
    assert "2026-12-03T21:30:00Z" in message  # the example of the format


# -- the blob store the settings ask for (sync.stores) --------------------------------------------


async def test_open_blob_store_defaults_to_the_local_folder(tmp_path: Path) -> None:
    """No blob settings: a local store under <data-dir>/blob, container ibpicker-journal."""
    store = open_blob_store(load_settings(data_dir=tmp_path / "data"))
    assert isinstance(store, LocalBlobStore)
    await store.create("x", b"1")
    assert (tmp_path / "data" / "blob" / "ibpicker-journal" / "x").read_bytes() == b"1"
    await store.close()


@pytest.mark.azurite
async def test_open_blob_store_uses_the_connection_string(
    azurite: Azurite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IBPICKER_BLOB_CONNECTION_STRING selects the Azure store, which then works on Azurite."""
    monkeypatch.setenv("IBPICKER_BLOB_CONNECTION_STRING", azurite.connection_string)
    monkeypatch.setenv("IBPICKER_BLOB_CONTAINER", azurite_support.unique_container())
    store = open_blob_store(load_settings())
    try:
        assert isinstance(store, AzureBlobStore)
        etag = await store.create("x", b"1")
        assert await store.read("x") == (b"1", etag)
    finally:
        await store.close()


def test_open_blob_store_with_an_account_url_and_no_identity_fails_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An account URL where no identity endpoint exists is refused at once, naming the cause."""
    monkeypatch.setenv("IBPICKER_BLOB_ACCOUNT_URL", "https://acct.blob.core.windows.net")
    monkeypatch.setenv("AZURE_CLIENT_ID", CLIENT_ID)
    with pytest.raises(SettingsError, match="IDENTITY_ENDPOINT"):
        open_blob_store(load_settings())
