"""The registry's storage (a folder or an S3 bucket), as harborlite reads and changes it."""
