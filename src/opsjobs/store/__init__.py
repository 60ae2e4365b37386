"""Persistence: SQLAlchemy Core tables and queries, on SQLite or PostgreSQL."""
