"""Alembic environment: runs migrations on the engine handed over by ``appmarket.db.migrate``."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import appmarket.db.addons  # registers the addon tables (the import below marks these used)
import appmarket.db.installer  # registers the installer tables
import appmarket.db.models  # noqa: F401 - registers the tables on SQLModel.metadata

config = context.config
engine = config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
