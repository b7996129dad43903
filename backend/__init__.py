"""Indelible: a censorship-resistant discussion board on an EVM chain."""

__version__ = "0.1.0"
