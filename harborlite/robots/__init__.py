"""Robot accounts (Harbor's robot API v2): machine identities with a secret and permissions.

``operations`` holds every use case (create, update, refresh the secret, disable, delete) and
the rules (names, durations, what a creator may grant); ``queries`` the database; ``secrets``
how a secret is made, checked and stored. Logging in as a robot is ``authentication``'s.
"""
