"""HTTPS served by harborlite itself: a private CA and server certificate
(:mod:`~harborlite.tls.authority`), where each client wants that CA (:mod:`~harborlite.tls.trust`),
and the server's TLS context, reloaded on SIGHUP (:mod:`~harborlite.tls.context`)."""
