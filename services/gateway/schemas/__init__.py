"""Pydantic models of request input (query strings, JSON bodies) and documented responses, per subject."""
