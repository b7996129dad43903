"""Plumbing the JSON routes and the pages share: dependencies, parameters, error wording, JSON answers."""
