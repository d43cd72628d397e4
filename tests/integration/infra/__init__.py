"""Checks of the deployment files (Dockerfile, workflow, Bicep) with the linters that run here."""
