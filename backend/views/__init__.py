"""The API's documents: rows of the index (``backend.db.queries``) shaped into JSON, with URLs and cursors.

The JSON routes and the pages both build their data here, so a page shows
exactly what its JSON twin returns.
"""
