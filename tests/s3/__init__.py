"""harborlite with the registry storing blobs in S3 (moto in server mode, started here)."""
