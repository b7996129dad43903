"""The index database: SQLAlchemy models, engine setup and read helpers.

Only ``backend.indexer`` writes these tables; everything else reads them.
"""
