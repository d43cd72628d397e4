"""Fetchers against local stand-ins of the providers."""
