"""Registry endpoints: the remote registries harborlite replicates to and from and proxies."""
