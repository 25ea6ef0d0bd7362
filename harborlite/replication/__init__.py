"""Replication: Harbor's policies that copy artifacts to (push-based) or from (pull-based) a
registry endpoint, run as background jobs with one task per artifact."""
