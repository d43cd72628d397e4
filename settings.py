"""Settings and secrets: typed configuration from the environment, validated once at start.

``load_settings()`` reads every ``IBPICKER_*`` variable (and the few Azure names the platform sets)
into a frozen ``Settings``. ``load_secrets()`` then fetches the four secrets: from Key Vault through
the managed identity when ``KEY_VAULT_URL`` is set, otherwise from environment variables. A missing
required secret stops the start with one message naming every missing one; a missing optional one
turns its features off (``Secrets.features_off()`` says which and why).

Secret values live only in ``pydantic.SecretStr``: their ``repr``/``str`` is ``**********``, and no
message, log line or exception built here contains one. Messages quote variable names, never values
(pydantic's own validation messages quote the input, so they are rewritten here).

A leaf: it imports nothing of ours but ``events.clock`` (the run's clock), so every layer may read
the typed values. What the values build lives with what is built: the blob store in
``sync.stores``, the sync knobs in ``sync.runtime.SyncConfig``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from platformdirs import user_data_dir
from pydantic import (
    AliasChoices,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from events.clock import Clock, FixedClock, SystemClock, parse_instant

if TYPE_CHECKING:
    from azure.identity.aio import ManagedIdentityCredential

log = logging.getLogger(__name__)

APP_NAME = "ibpicker"
ENV_PREFIX = "IBPICKER_"
# Key Vault secret name → the environment variable used when there is no Key Vault.
SECRET_ENV = {
    "discord-token": "DISCORD_TOKEN",
    "uw-api-key": "UW_API_KEY",
    "anthropic-api-key": "ANTHROPIC_API_KEY",
    "finnhub-api-key": "FINNHUB_API_KEY",
}
# What each secret switches on, for the "features off" notice in /about and the start log.
SECRET_FEATURES = {
    "discord-token": "Discord (only the local console takes commands)",
    "uw-api-key": "live prices and options flow from Unusual Whales (offline sample data is used)",
    "anthropic-api-key": "Strategy drafting with Claude",
    "finnhub-api-key": "Finnhub quotes, earnings calendar and company news",
}
_KEY_VAULT_TIMEOUT_S = 30.0
JOURNAL_URL_SCHEMES = ("postgresql://", "postgres://")
_DIGITS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() also takes "²", which int() refuses


class SettingsError(Exception):
    """Root of every settings and secrets error; its message is meant for the operator."""


class MissingSecretsError(SettingsError):
    """Required secrets are absent; ``missing`` names all of them."""

    def __init__(self, missing: Sequence[str], source: str) -> None:
        """Name every missing secret and where it was looked for."""
        self.missing = tuple(missing)
        super().__init__(f"missing required secret(s) {', '.join(self.missing)} in {source}")


def default_data_dir() -> Path:
    """The data folder when none is given: ``IBPICKER_DATA_DIR``, else the per-user data folder
    (platformdirs: on Linux ``$XDG_DATA_HOME/ibpicker``, else ``~/.local/share/ibpicker``)."""
    explicit = os.environ.get(f"{ENV_PREFIX}DATA_DIR", "").strip()
    if explicit:
        return Path(explicit).expanduser()
    return Path(user_data_dir(APP_NAME, appauthor=False))


def _env(name: str) -> Any:
    """A field read from exactly the environment variable ``name`` (no prefix)."""
    return Field(default=None, validation_alias=AliasChoices(name))


class Settings(BaseSettings):
    """Everything ibpicker reads from its environment. Built by ``load_settings()``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, extra="ignore", populate_by_name=True
    )

    data_dir: Path = Field(default_factory=default_data_dir)
    environment: Literal["local", "dev", "staging", "prod"] = "local"
    health_port: int = Field(default=8080, ge=0, le=65535)

    # Blob storage: at most one of connection string / account URL; neither → local folder.
    blob_connection_string: SecretStr | None = None  # holds an account key: a secret
    blob_account_url: str | None = None
    blob_dir: Path | None = None
    blob_container: str = "ibpicker-journal"

    # Segment shipping policy; unset, sync's own defaults (``sync.shipper``) apply.
    durable_ack: bool = False
    segment_max_events: PositiveInt | None = None
    segment_max_age_s: PositiveFloat | None = None

    # The journal in PostgreSQL (``postgresql://user@host:port/db``) instead of the SQLite file in
    # the data folder; it may hold a password, so it is treated as a secret.
    journal_url: SecretStr | None = None
    # A bot replica on that shared journal: its name in the journal's claims of daily runs, with
    # its host name and process id (which a container keeps across a restart of its process).
    replica_id: str | None = Field(default=None, min_length=1, max_length=200)
    # How far a replica's projections may lag the shared journal's head before /readyz says
    # not ready (positions, seconds); unset, ``sync.replica``'s defaults apply.
    replica_max_lag_events: PositiveInt | None = None
    replica_max_lag_s: PositiveFloat | None = None

    # A sharded bot (Discord's sharding): the total number of shards, and the ones this replica
    # runs (`0,2` or `0-3`; unset with the total set: every shard). Unset total: one plain client.
    # NoDecode: pydantic-settings would read the list as JSON; it is parsed by `_shard_ids`.
    shards: PositiveInt | None = None
    shard_ids: Annotated[tuple[int, ...] | None, NoDecode] = Field(
        default=None, validate_default=True
    )

    # The one clock of a run: unset, the real time; set, every "now" stands at this instant.
    now: AwareDatetime | None = None

    # A folder of strategy files the operator offers every server, as if shipped (key: the file's
    # name without .yaml); each is validated at start.
    strategies_dir: Path | None = None

    # Strategy drafting with Claude (on when anthropic-api-key is set): the model (unset: the
    # client's current Sonnet), a bound on each draft's answer, and how many drafts a member may
    # ask for per hour and a server per day (drafts cost money).
    anthropic_model: str | None = None
    anthropic_base_url: str | None = None  # a gateway in front of the API (unset: Anthropic's)
    draft_timeout_s: PositiveFloat = 60.0
    drafts_per_member_hour: PositiveInt = 5
    drafts_per_server_day: PositiveInt = 30

    # Names set by the platform and the infrastructure, without our prefix.
    azure_client_id: str | None = _env("AZURE_CLIENT_ID")
    identity_endpoint: str | None = _env("IDENTITY_ENDPOINT")
    key_vault_url: str | None = _env("KEY_VAULT_URL")
    discord_guild_id: PositiveInt | None = _env("DISCORD_GUILD_ID")

    # Secrets for a run without Key Vault (ignored when KEY_VAULT_URL is set).
    discord_token: SecretStr | None = _env("DISCORD_TOKEN")
    uw_api_key: SecretStr | None = _env("UW_API_KEY")
    anthropic_api_key: SecretStr | None = _env("ANTHROPIC_API_KEY")
    finnhub_api_key: SecretStr | None = _env("FINNHUB_API_KEY")

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `FOO=` in an env file or a pipeline means "not set", not "the empty string".
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("now", mode="before")
    @classmethod
    def _instant(cls, value: object) -> object:
        # Stricter than pydantic's datetime parsing (which takes Unix seconds and naive times):
        # an ISO 8601 instant with its UTC offset, or nothing.
        if isinstance(value, str):
            return parse_instant(value) if value.strip() else None
        return value

    @field_validator("key_vault_url", "blob_account_url")
    @classmethod
    def _https_only(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("https://"):
            raise ValueError("must be an https:// URL")
        return value.rstrip("/") if value else value

    @field_validator("journal_url")
    @classmethod
    def _postgres_only(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(JOURNAL_URL_SCHEMES):
            raise ValueError("must be a postgresql:// URL")
        return value

    @field_validator("shard_ids", mode="before")
    @classmethod
    def _shard_ids(cls, value: object, info: ValidationInfo) -> object:
        if "shards" not in info.data:
            return ()  # IBPICKER_SHARDS itself is invalid: its own error says why
        total = info.data["shards"]
        if value is None:
            # Every shard when only the total is given; nothing when neither is.
            return None if total is None else tuple(range(total))
        if total is None:
            raise ValueError(f"needs {ENV_PREFIX}SHARDS (the total number of shards) as well")
        if isinstance(value, str):
            return parse_shard_ids(value, total)
        if isinstance(value, Sequence) and all(isinstance(one, int) for one in value):
            return parse_shard_ids(",".join(map(str, value)), total)
        return value

    @model_validator(mode="after")
    def _some_shards_share_the_journal(self) -> Settings:
        # A replica running only some shards leaves the others' servers to other replicas, which
        # must append to the same journal: the SQLite file has one writer (its lease), so that
        # takes the shared PostgreSQL journal.
        some = self.shards is not None and len(self.shard_ids or ()) < self.shards
        if some and self.journal_url is None:
            raise ValueError(
                f"{ENV_PREFIX}SHARD_IDS names only some of the {self.shards} shards: the "
                "replicas running the others must share this replica's journal, so set "
                f"{ENV_PREFIX}JOURNAL_URL (the SQLite journal takes one writer), or run "
                "every shard here"
            )
        return self

    @property
    def journal_database(self) -> str | None:
        """The PostgreSQL URL of the journal, or ``None`` for the SQLite file in the data folder."""
        return self.journal_url.get_secret_value() if self.journal_url is not None else None

    @model_validator(mode="after")
    def _one_blob_backend(self) -> Settings:
        if self.blob_connection_string is not None and self.blob_account_url is not None:
            raise ValueError(
                f"set either {ENV_PREFIX}BLOB_CONNECTION_STRING or {ENV_PREFIX}BLOB_ACCOUNT_URL, "
                "not both"
            )
        if self.blob_account_url is not None and self.azure_client_id is None:
            raise ValueError(
                f"{ENV_PREFIX}BLOB_ACCOUNT_URL needs AZURE_CLIENT_ID "
                "(the client id of the user-assigned managed identity)"
            )
        return self

    @property
    def blob_backend(self) -> Literal["connection-string", "managed-identity", "local"]:
        """Which blob store ``sync.stores.open_blob_store`` builds."""
        if self.blob_connection_string is not None:
            return "connection-string"
        if self.blob_account_url is not None:
            return "managed-identity"
        return "local"

    def clock(self) -> Clock:
        """The run's one clock: fixed at ``IBPICKER_NOW`` when it is set, else the real time."""
        return FixedClock(self.now) if self.now is not None else SystemClock()

    @property
    def local_blob_dir(self) -> Path:
        """The local blob folder: ``IBPICKER_BLOB_DIR``, else ``<data-dir>/blob``."""
        return self.blob_dir if self.blob_dir is not None else self.data_dir / "blob"


def parse_shard_ids(text: str, total: int) -> tuple[int, ...]:
    """The shard ids of ``IBPICKER_SHARD_IDS`` out of ``total`` shards: a comma list of ids and
    inclusive ranges (``0,2,4-6``), each within ``0..total-1`` and listed once; ascending.
    ``ValueError`` naming the first bad item."""
    ids: list[int] = []
    for item in (part.strip() for part in text.split(",")):
        low, dash, high = (side.strip() for side in item.partition("-"))
        if not (_DIGITS.fullmatch(low) and (_DIGITS.fullmatch(high) if dash else True)):
            raise ValueError(
                f"{item!r} is not a shard id or a range of them (expected e.g. 0,2 or 0-3)"
            )
        first, last = int(low), int(high) if dash else int(low)
        if last < first:
            raise ValueError(f"range {item!r} runs backwards")
        if last >= total:  # checked before the range is expanded: `0-99999999` costs nothing
            raise ValueError(f"shard {last} is outside 0..{total - 1} ({ENV_PREFIX}SHARDS={total})")
        if any(first <= one <= last for one in ids):
            raise ValueError(f"{item!r} lists a shard already listed")
        ids.extend(range(first, last + 1))
    return tuple(sorted(ids))


def _env_name(field: str) -> str:
    """The environment variable a settings field is read from."""
    info = Settings.model_fields.get(field)
    if info is None:  # pydantic reports an aliased field by its alias: the variable's name
        return field
    if isinstance(info.validation_alias, AliasChoices):
        return str(info.validation_alias.choices[0])
    return f"{ENV_PREFIX}{field.upper()}"


def journal_url() -> str | None:
    """``IBPICKER_JOURNAL_URL`` alone (for the commands that read nothing else): the PostgreSQL
    journal's URL, or ``None`` for the SQLite file. ``SettingsError`` when it is not one."""
    value = os.environ.get(f"{ENV_PREFIX}JOURNAL_URL", "").strip()
    if not value:
        return None
    if not value.startswith(JOURNAL_URL_SCHEMES):
        raise SettingsError(
            f"invalid settings: {ENV_PREFIX}JOURNAL_URL: must be a postgresql:// URL"
        )
    return value


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the settings from the environment (``overrides`` win, for tests and CLI).

    Raises ``SettingsError`` listing each bad variable and why, never its value.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            where = ".".join(str(part) for part in error["loc"])
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{_env_name(where)}: {message}" if where else message)
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None


# -- secrets --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureOff:
    """A feature that is off because its secret is absent."""

    feature: str
    secret: str
    source: str

    def __str__(self) -> str:
        return f"{self.feature}: off (no {self.secret} in {self.source})"


class Secrets(BaseModel):
    """The four secrets; ``None`` means absent. Every value is redacted in ``repr``/``str``."""

    model_config = ConfigDict(frozen=True)

    discord_token: SecretStr | None = None
    uw_api_key: SecretStr | None = None
    anthropic_api_key: SecretStr | None = None
    finnhub_api_key: SecretStr | None = None
    source: str = "environment"

    def get(self, name: str) -> SecretStr | None:
        """The secret with Key Vault name ``name`` (``uw-api-key``…), or ``None``."""
        value = getattr(self, name.replace("-", "_"))
        return value if isinstance(value, SecretStr) else None

    def value(self, name: str) -> str | None:
        """The plain value of secret ``name``, or ``None``: only for handing to its client."""
        secret = self.get(name)
        return secret.get_secret_value() if secret is not None else None

    def features_off(self) -> list[FeatureOff]:
        """Each feature that is off, with the absent secret that turned it off."""
        return [
            FeatureOff(SECRET_FEATURES[name], name, self.source)
            for name in SECRET_ENV
            if self.get(name) is None
        ]


def managed_identity(settings: Settings, *, purpose: str) -> ManagedIdentityCredential:
    """The user-assigned managed identity, or a ``SettingsError`` at once when there is none.

    Without an identity endpoint the credential would spend 5-13 s probing before it fails, so a
    local run with an Azure-only setting is refused here instead, naming what is missing.
    """
    if settings.azure_client_id is None:
        raise SettingsError(
            f"{purpose} needs AZURE_CLIENT_ID, the client id of the user-assigned managed identity"
        )
    if settings.identity_endpoint is None:
        raise SettingsError(
            f"{purpose} needs a managed identity, and IDENTITY_ENDPOINT is not set (Azure "
            "Container Apps sets it); for a local run unset it and use environment variables"
        )
    from azure.identity.aio import ManagedIdentityCredential

    return ManagedIdentityCredential(client_id=settings.azure_client_id)


async def _from_key_vault(
    settings: Settings, vault_url: str, client_options: Mapping[str, Any]
) -> dict[str, SecretStr | None]:
    from azure.core.exceptions import AzureError, ResourceNotFoundError
    from azure.keyvault.secrets.aio import SecretClient

    credential = managed_identity(settings, purpose="KEY_VAULT_URL")

    async def fetch(client: SecretClient, name: str) -> SecretStr | None:
        try:
            secret = await client.get_secret(name)
        except ResourceNotFoundError:
            return None
        return SecretStr(secret.value) if secret.value else None

    try:
        async with (
            credential,
            SecretClient(vault_url, credential, **client_options) as client,
            asyncio.timeout(_KEY_VAULT_TIMEOUT_S),
        ):
            values = await asyncio.gather(*(fetch(client, name) for name in SECRET_ENV))
    except TimeoutError:
        raise SettingsError(
            f"Key Vault {vault_url} did not answer within {_KEY_VAULT_TIMEOUT_S:.0f} s"
        ) from None
    except AzureError as exc:
        # The SDK's message is not quoted: only its type and status, which carry no secret.
        status = getattr(exc, "status_code", None)
        raise SettingsError(
            f"cannot read secrets from Key Vault {vault_url}: {type(exc).__name__}"
            + (f" (HTTP {status})" if status else "")
            + "; the identity needs the 'Key Vault Secrets User' role"
        ) from None
    return dict(zip(SECRET_ENV, values, strict=True))


async def load_secrets(
    settings: Settings,
    *,
    required: Sequence[str] = ("discord-token",),
    key_vault_options: Mapping[str, Any] | None = None,
) -> Secrets:
    """Fetch the secrets: Key Vault when ``KEY_VAULT_URL`` is set, else environment variables.

    ``required`` are Key Vault names; if any is absent, ``MissingSecretsError`` names all absent
    ones. ``key_vault_options`` go to the ``SecretClient`` (tests pass ``connection_verify`` and
    ``verify_challenge_resource=False`` for a vault stand-in on 127.0.0.1).
    """
    unknown = set(required) - set(SECRET_ENV)
    if unknown:
        raise ValueError(f"unknown secret name(s): {', '.join(sorted(unknown))}")
    if settings.key_vault_url is not None:
        source = f"Key Vault {settings.key_vault_url}"
        values = await _from_key_vault(settings, settings.key_vault_url, key_vault_options or {})
    else:
        source = "environment"
        values = {name: getattr(settings, name.replace("-", "_")) for name in SECRET_ENV}
    secrets = Secrets(**{name.replace("-", "_"): value for name, value in values.items()})
    secrets = secrets.model_copy(update={"source": source})
    missing = [name for name in required if secrets.get(name) is None]
    if missing:
        where = (
            source
            if settings.key_vault_url
            else "the environment: " + ", ".join(SECRET_ENV[name] for name in missing)
        )
        raise MissingSecretsError(missing, where)
    for feature in secrets.features_off():
        log.info("feature off: %s", feature)
    log.info("secrets loaded from %s", source)
    return secrets
