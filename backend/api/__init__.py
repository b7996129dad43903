"""JSON routes. They only read the index; the indexer alone writes it."""
