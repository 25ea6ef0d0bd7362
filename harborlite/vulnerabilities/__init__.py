"""Vulnerability policy: CVE allowlists (the system's and each project's, with expiry) and the
``prevent_vul`` / ``severity`` pull policy.

- :mod:`~harborlite.vulnerabilities.models`: the ``cve_allowlists`` table;
- :mod:`~harborlite.vulnerabilities.allowlists`: an allowlist's checked shape and Harbor's
  wire form;
- :mod:`~harborlite.vulnerabilities.queries`: reading and writing the rows;
- :mod:`~harborlite.vulnerabilities.operations`: setting an allowlist, audited;
- :mod:`~harborlite.vulnerabilities.policy`: the pull decision (a pure function) and each
  project's policy kept in memory for the ``/v2/`` check.
"""
