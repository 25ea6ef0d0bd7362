"""harborlite: a private container registry with Harbor's core in one Python process."""

__version__ = "0.1.0"
