"""Helpers shared by the test suites (the conftests keep only fixtures): waiting, the Board, databases, servers."""
