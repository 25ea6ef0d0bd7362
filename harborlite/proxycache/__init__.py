"""Proxy-cache projects: a project bound to a remote registry endpoint, filled on pull."""
