"""Uploads the registry keeps: purging the abandoned ones."""
