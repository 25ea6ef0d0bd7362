"""Tag immutability: Harbor's per-project rules saying which tags, once pushed, may never be
moved to another digest or deleted.

- :mod:`~harborlite.immutability.rules`: a rule's selectors (Harbor's ``doublestar`` patterns),
  read from Harbor's JSON and matched against a repository (without its project) and a tag;
- :mod:`~harborlite.immutability.models`: the ``immutable_rules`` table (migration
  ``0103_immutable_rules``);
- :mod:`~harborlite.immutability.queries`: the rules and the tags they protect, in the database;
- :mod:`~harborlite.immutability.operations`: creating, changing and deleting rules (who may, the
  limits, the audit entry), and the refusals every surface asks for before it moves or deletes
  a tag;
- :mod:`~harborlite.immutability.cache`: each project's enabled rules kept in memory for the
  ``/v2/`` push and delete checks.
"""
