"""Cosign signatures that are verified: a project's trusted keys and its pull policy.

- :mod:`~harborlite.signatures.keys`: ``cosign.pub`` keys (ECDSA P-256, Ed25519, RSA) and
  checking a signature with one;
- :mod:`~harborlite.signatures.payload`: cosign's simple-signing payload;
- :mod:`~harborlite.signatures.verdict`: whether an image's signatures let it be pulled, and
  the sentence that says why not;
- :mod:`~harborlite.signatures.legacy`: the ``sha256-<hex>.sig`` signatures read from the
  registry;
- :mod:`~harborlite.signatures.bundle` and :mod:`~harborlite.signatures.statement`: cosign 3's
  Sigstore bundles (OCI 1.1 referrers), their DSSE envelope and in-toto statement;
- :mod:`~harborlite.signatures.models`, :mod:`~harborlite.signatures.queries`,
  :mod:`~harborlite.signatures.operations`: the ``cosign_keys`` table and its use cases;
- :mod:`~harborlite.signatures.cache` and :mod:`~harborlite.signatures.policy`: the decision a
  ``/v2/`` manifest pull asks for, with what it read kept per digest and key set.
"""
