"""The client of any remote distribution registry (Harbor, harborlite, registry:2, Docker Hub)."""
