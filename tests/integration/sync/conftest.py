"""Fixtures for the sync integration tests: Azurite and the managed-identity token endpoint."""

from tests.support.azurite import azurite, azurite_factory
from tests.support.identity import identity_endpoint

__all__ = ["azurite", "azurite_factory", "identity_endpoint"]
