"""Persistence: SQLAlchemy 2.0 models, repositories and Alembic migrations.

Nothing here imports the rest of the bot.
"""
