"""Garbage collection: the bytes of what no artifact references leave the disk, online."""
