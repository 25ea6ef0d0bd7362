"""Loaded at the start of a ``harborlite serve`` a test starts with this folder on PYTHONPATH
(and ``HARBORLITE_TEST_COUNT_SQL=1``): installs :mod:`tests.scale_pool.sql_counter`."""

import os

if os.environ.get("HARBORLITE_TEST_COUNT_SQL") == "1":
    from tests.scale_pool import sql_counter

    sql_counter.install()
