"""Tag retention: Harbor's ``/retentions`` policies (one per project), their rule algebra
(:mod:`~harborlite.retention.rules`), and the background job that keeps what the rules retain
and deletes the rest (:mod:`~harborlite.retention.job`)."""
