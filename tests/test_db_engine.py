"""The database engine: SQLite's transaction handling on the hot path."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event, text

from appmarket.db.engine import Database, make_engine


def test_single_statement_reads_skip_the_transaction_on_sqlite(tmp_path: Path) -> None:
    """The pull hot path runs one SELECT: no BEGIN/ROLLBACK around it, and it still sees committed rows."""
    db = Database(make_engine(f"sqlite:///{tmp_path / 'x.db'}"))
    seen: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    try:
        with db.statement() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
        assert seen == ["SELECT 1"]
        seen.clear()
        with db.read() as s:
            s.connection().execute(text("SELECT 1"))
        assert seen == ["BEGIN", "SELECT 1"]  # an ordinary read keeps its transaction
    finally:
        db.dispose()
