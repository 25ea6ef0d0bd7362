"""The OCI and Docker vocabulary: media types, the reference grammar, manifest parsing.

A leaf package: it imports nothing of harborlite."""
