"""Project storage quotas: Harbor's ``/quotas`` with its semantics, and what Harbor lacks.

A project's usage is the sum of its distinct blobs and manifests (a layer two of its
repositories share counts once; two projects holding it count it in both). Harborlite learns
what a project holds from the ``/v2/`` pushes it sees (:mod:`.usage`), reads which manifests
are still artifacts from the artifact index, and never counts a blob an abandoned push left
behind once the upload window has passed. Admins recount a project from the registry
(:mod:`.recount`); the half-finished uploads of a project are listed from the registry's
storage (:mod:`.uploads`).
"""
