"""Pluggable vulnerability scanning: scanner registrations, the adapter client, scan jobs and
their reports."""
