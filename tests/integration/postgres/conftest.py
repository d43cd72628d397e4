"""The PostgreSQL journal's tests share the session's real server (``tests.support.postgres``)."""

from tests.support.postgres import pg_url, postgres  # noqa: F401  (fixtures)
