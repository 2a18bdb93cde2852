"""PostgreSQL schema migrations owned by the project, applied in order, once each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from fundingflow.settings import Settings

MIGRATIONS = Path(__file__).with_name("migrations")


def pending(applied: set[str]) -> list[Path]:
    return [p for p in sorted(MIGRATIONS.glob("*.sql")) if p.stem not in applied]


def apply(settings: Settings) -> list[str]:
    """Apply every migration not yet recorded in ``schema_migrations``; return their names."""
    with psycopg.connect(settings.postgres.conninfo()) as conn:
        return apply_on(conn)


def apply_on(conn: psycopg.Connection[Any]) -> list[str]:
    """:func:`apply` on an open connection, in its ``search_path``; commits."""
    done: list[str] = []
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    conn.execute("SELECT pg_advisory_xact_lock(727172)")
    applied = {str(r[0]) for r in conn.execute("SELECT name FROM schema_migrations")}
    for path in pending(applied):
        conn.execute(path.read_text().encode())
        conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (path.stem,))
        done.append(path.stem)
    conn.commit()
    return done
