"""Background jobs: one mechanism for garbage collection, retention runs and what comes after
(replication, scans, webhook deliveries). Schedules and executions live in the database; see
:mod:`harborlite.jobs.runner` for how one replica, and only one, runs each execution."""
