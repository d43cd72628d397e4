"""Real local servers and stand-ins the integration tests start: Azurite, a managed-identity token
endpoint, a Key Vault, and the self-signed certificates their HTTPS needs. Test code only."""
