"""mks-db: prove Alembic migrations safe before they merge, and apply them to production safely.

The engine works on any Alembic project (``-c alembic.ini``); this repository is its first user.
"""

__version__ = "0.1.0"
