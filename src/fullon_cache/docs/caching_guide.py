"""How fullon_cache uses Redis, and what it promises.

Example::

    from fullon_cache.docs.caching_guide import CACHING_GUIDE
"""

CACHING_GUIDE = """\
fullon_cache caching guide
==========================

Connections
-----------
* Caches built without a client share one set of pools per (event loop, server settings).
  ``async with SomeCache() as cache:`` around each call costs a dictionary lookup, not a
  connection. A pool is never used on an event loop other than the one it was made on.
* Up to REDIS_MAX_CONNECTIONS (50) commands run at once per pool; more callers wait their
  turn (first come, first served) instead of failing.
* Blocking pops (``cache.pop_global_error(timeout=30)``) use a second pool without a socket
  timeout, so a long wait ends in None after ``timeout`` seconds, never in a timeout error,
  and never occupies a connection the other calls need.
* A client you inject with ``redis=`` is borrowed: fullon_cache never closes it, and it is
  used for blocking pops too (long waits are split into blocks shorter than its socket
  timeout).
* ``cache.aclose()`` ends one instance; ``fullon_cache.close_all()`` closes the pools of the
  running loop and makes the next cache read its settings again.

Deadlines and retries
---------------------
* Every call ends within REDIS_SOCKET_TIMEOUT + 1 s (plus the wait of a blocking pop) with a
  result or a CacheError, even against a frozen or vanished server.
* redis-py's own automatic retries are switched off: they resend any command, and a resent
  RPUSH or INCR is applied twice.
* fullon_cache retries (up to 3 times, exponential backoff with jitter, inside the deadline)
  only reads and overwrites, and other writes only when their bytes never left the process.
  A write whose reply was lost raises CacheUnknownOutcomeError: check before you repeat it.
* A pipeline (``cache.pipeline()``) is never resent.

Key space
---------
* Every key and pub/sub channel starts with ``<REDIS_KEY_PREFIX>:``. A prefix is 1-64 letters,
  digits, '_', '.' or '-' (no ':'), so one namespace's patterns never reach into another's.
  Tests and tenants isolate by namespace; ``cache.prepare_cache()`` deletes only its own.
* Identifiers (exchanges, symbols, ids) are str or int. Empty ones, ones padded with spaces,
  and ones holding glob characters (* ? [ ]), braces, backslashes or control characters are
  rejected with InvalidInputError before anything is written.
* Units that must change together share a Redis Cluster hash tag ``{...}``; no script,
  transaction or multi-key read spans two slots. KEYS is never used; SCAN only in admin calls
  (``cache.get_keys()``, ``cache.prepare_cache()``).
* A channel carries the hash tag of the data it announces. On a Redis 7+ cluster pub/sub is
  sharded: SSUBSCRIBE on the node that owns the channel's slot, SPUBLISH from the script that
  writes the data, so an update travels to one node instead of every node; elsewhere it is
  classic PUBLISH/SUBSCRIBE. Either way it is at-most-once. Each pool decides once, from the
  version its first call reads: after upgrading a cluster from 6.2, restart the processes
  so that publishers and subscribers agree.

Data
----
* JSON (orjson) only, never pickle. Timestamps are written as ISO-8601 UTC and read back as
  aware UTC datetimes.
* Data that cannot be decoded raises CacheCorruptedValueError naming the key (never showing
  the value). In collections, one corrupted entry is skipped and logged, the rest returned.
* Models are fullon_orm's when it is installed, the library's own otherwise
  (``fullon_cache.models``); only a model's own fields are ever passed to its constructor.

Processes (ProcessCache)
------------------------
* A process record is a hash that expires PROCESS_TTL (one day) after its last update; an
  index ordered by last update answers ``cache.get_active_processes(since_minutes=N)`` and is
  pruned of expired records, so nothing accumulates. Register, update and stop are each one
  atomic step (one hash tag, a Lua script or MULTI); ``params`` merge shallowly.
* Every ``cache.update_process(pid, ...)`` is a sign of life; ``heartbeat=True`` (the default)
  also moves ``heartbeat``/``last_seen``. A record whose last heartbeat is older than the
  window is flagged ``_heartbeat_stale``. ``cache.cleanup_stale_processes()`` stops processes
  that stopped updating.
* ``cache.broadcast_message(type, text)`` is pub/sub: only processes listening at that moment
  (``async with cache.broadcasts(type) as messages``) get it.

Reference data (ExchangeCache, SymbolCache)
-------------------------------------------
* Read-through: a miss asks the *source* (fullon_orm's DatabaseContext when installed, or any
  object with ``get_exchange``, ``get_user_exchanges``, ``get_cat_exchanges`` and
  ``get_symbols``; ``fullon_cache.set_default_source(...)`` for the process, ``cache.source =``
  for one cache) and keeps the answer for CACHE_TTL_EXCHANGE / CACHE_TTL_SYMBOL seconds.
  Without a source a miss is just a miss.
* Concurrent misses of one key in one process load once. A failing source raises
  CacheSourceError and caches nothing.
* Lists (a user's exchanges, the catalogue, an exchange's symbols) are hashes marked complete
  when loaded from the source; entries added by ``cache.set_exchange()`` or
  ``cache.add_symbol()`` alone never pass for the full list, so the next read completes it from
  the source. ``force=True`` reloads; ``cache.invalidate_exchanges()`` forgets.
* ``cache.get_symbol()`` reloads its exchange's symbols once on a miss (a new listing shows up
  without waiting for the TTL); ``cache.delete_symbol()`` also deletes the symbol's ticker.

Tickers (TickCache)
-------------------
* Per exchange: a hash of the latest tickers, a hash of their times and an update channel,
  under one hash tag ``{tickers:<exchange>}``; a set lists the exchanges that have tickers, so
  ``cache.get_all_tickers()`` never scans and never relies on a fixed list of exchanges.
* ``cache.set_ticker(tick)`` is one round trip: a script stores the tick unless a newer one
  (by ``time``) is stored, and publishes it; the index update rides in the same pipeline.
  ``cache.set_tickers_batch(ticks)`` sends 500 ticks per round trip.
* Readers get the newest stored tick. ``max_age=`` turns an older one into TickerStaleError
  (``.tick`` and ``.age`` tell how old): a stale price is never mistaken for a fresh one.
* Updates are pub/sub, so best effort. ``cache.stream_ticker_updates(exchange)`` reads the
  stored tickers after every (re)subscription, so an update missed while disconnected is
  caught up, and it never yields a tick older than one it already yielded for that symbol.
  ``cache.get_next_ticker(symbol, exchange, timeout)`` waits for one update.
* Corrupted stored tickers are skipped (and counted) in listings; a single read raises
  CacheCorruptedValueError. Stored ticks are validated like written ones.

Accounts and positions (AccountCache)
-------------------------------------
* Account snapshots live in one hash (ex_id -> JSON, stamped with ``date``); balances and
  positions in one hash per exchange account (currency -> balance, symbol -> position).
* ``cache.upsert_position(position)`` / ``cache.set_position(ex_id, position)`` change one
  symbol atomically and leave the others alone; ``cache.upsert_positions(ex_id, positions)``
  replaces an account's positions in one step (an empty list deletes them).
  ``cache.get_positions(ex_id)`` returns only that account's positions.
* Caller dicts and models are never changed (stamps go on stored copies).

Orders (OrdersCache)
--------------------
* Each order is a hash of JSON fields under ``{orders:<exchange>}``: ``save_order_data`` and
  ``update_order`` merge the given (non-None) fields in one script, so concurrent updates of
  different fields all survive; ``save_order`` replaces. A canceled order expires after
  CACHE_TTL_ORDER seconds on its own key, never touching the other orders.
* Queues are at-least-once. ``cache.pop_open_order(queue)`` and ``cache.claim_open_order(queue)``
  move the item onto a processing list in the same step as they take it (BLMOVE), so a lost
  reply or a crashed consumer leaves it there instead of losing it.
  ``cache.claim_open_order`` acknowledges only when its block exits cleanly;
  ``cache.requeue_stale_orders(queue, older_than)`` puts unacknowledged items back at the head.
  Make order handling idempotent (the order id): an item may be delivered twice.
* Undecodable queue items are moved to a dead list (kept for inspection) and counted.

Trades (TradesCache)
--------------------
* Trade lists per exchange and symbol (``BTC/USDT`` and ``BTCUSDT`` name the same list).
  ``cache.get_trades(symbol, exchange)`` drains a list at least once: one script takes the
  trades onto a processing list, a second round trip acknowledges them. A drain cancelled or
  whose reply was lost gives its trades back on the next take (a consumer that died: once
  stale, ``TradesCache.STALE_TAKE_SECONDS``), so a trade may come twice, never zero times.
* Per-user trade queues pop the same way, with any timeout (the wait leaves the queue as it
  is: a cancelled wait loses nothing).

Bot locks (BotCache)
--------------------
* One key per (exchange, symbol) holds the holder's bot id; scripts acquire it only when free
  (or already ours), and extend or release it only for its owner. With a TTL a dead bot's block
  expires; without, it lasts until released.
* ``cache.is_blocked()`` raises when Redis cannot answer: "free" is never a guess.
* ``async with cache.bot_lock(ex_id, symbol, bot_id, ttl=30) as lease:`` keeps the lease alive
  (extended every ttl/3) and releases it at the end. ``lease.fence`` grows with every new
  acquisition: pass it to the exchange (client order ids) so an order from a bot that lost its
  lease during a stall can be told apart. ``lease.check()`` and the end of the block raise
  LockLostError when the lease was lost.
* A lock is only as safe as the Redis holding it: a failover to a replica can lose it.

Candles (OHLCVCache)
--------------------
* A series is a sorted set by timestamp: out-of-order bars come back sorted, and a bar with a
  stored timestamp replaces it (one script per 1,000 bars, which also trims the series to
  OHLCV_CAP and publishes what it wrote).
* ``cache.get_ohlcv_gaps(symbol, timeframe, since, until)`` lists missing candles as ranges.

Performance
-----------
Every cache hit is one round trip, every single write one round trip (a script or a
pipeline), a 1,000-item write one or two. ``fullon-cache bench`` measures each layer's main
call next to the minimal raw redis-py sequence doing the same work (raw reads parse their
JSON with orjson; where the library runs a Lua script, raw runs the same one by EVALSHA), in
alternating slices of the same run, and counts round trips on the wire. Reproduce it with
``python3 dev.py cli bench`` (a private Redis on a unix socket; set REDIS_URL for yours) and
``--json`` for machines. One run on the 2-core build machine (Redis 6.2, Python 3.11, plain
asyncio, 3,000 calls each, 2026-12-04):

    operation                  RTs  p50 µs  raw p50  ratio   x50 ops/s (raw)
    ping                         1   126.7     91.6  1.38x    9,455 (15,500)
    get_ticker                   1   114.2     75.6  1.51x   10,411 (16,504)
    get_ticker, new instance     1   114.9    110.0  1.04x    (against get_ticker)
    set_ticker                   1   183.2    140.4  1.31x    6,663 (8,745)
    set_tickers_batch (1,000)    2   39.9 ms  37.2 ms 1.07x
    get_position                 1   118.9     80.3  1.48x   10,071 (13,458)
    upsert_positions (1,000)     1   15.7 ms   7.4 ms 2.13x
    get_order_status             1   129.7     89.7  1.45x    8,192 (10,657)
    save_order_data              1   197.9    152.9  1.29x    7,156 (8,819)
    order queue push + pop       3   416.9    270.1  1.54x    2,841 (5,303)
    trade push + drain           3   543.5    375.4  1.45x    4,127 (4,881)
    is_blocked                   1   104.5     75.1  1.39x   11,851 (17,365)
    get_latest_ohlcv_bars (1)    1   142.3    104.1  1.37x    7,799 (11,136)
    get_latest_ohlcv_bars (60)   1   339.7    180.5  1.88x    3,669 (6,943)
    update_ohlcv_bars (1,000)    1   15.1 ms  10.5 ms 1.45x
    update_process               1   245.7    163.2  1.51x    6,469 (13,978)

The hits sit at the 1.5x target: across runs the same code measured get_ticker between
1.30x and 1.57x on this machine, so ``bench`` reports that check met in some runs and not
in others. A hit costs the round trip plus about 20 µs of Python (measured without I/O):
about 9 µs in the call wrapper (two deadline watches, the FIFO semaphore, the circuit
breaker's state, the monitor's record, the send tracking) and the rest in checking the
arguments and decoding and checking the model. The trade drain is at-least-once (take, then
acknowledge: 3 round trips with the push).

What the library does for these numbers: pools shared per event loop (a fresh
``async with TickCache() as c:`` per call costs 5%, no connection and no PING), hiredis,
orjson, no socket timeouts (one watchdog timer per loop enforces every call's deadline:
``asyncio.timeout`` alone costs about 8 µs per call on Python 3.11), key checks cached for
the symbols a loop repeats, stored floats checked on a fast path. Reads of many items pay
per-item validation (the 60-bar read). Install uvloop in your application to make every
call faster; the library never installs an event-loop policy itself.

Server settings that matter
---------------------------
* ``maxmemory-policy noeviction``: any evicting policy silently deletes locks and queues.
  fullon_cache logs a warning at the first call when the policy is anything else.
* Persistence (``appendonly yes``, ``appendfsync everysec``) if queued orders must survive a
  server restart.
* ACL: the library needs only commands on its own keys and channels, plus INFO (for the
  eviction check and ``doctor``) and CLIENT SETNAME (redis-py names its connections). The
  line tested in ``tests/security/test_acl.py`` confines a user to one namespace:
  ``ACL SETUSER fullon reset on >secret ~fullon:* resetchannels &fullon:* +@all -@dangerous
  +info +client|setname -script`` (on Redis 7 add ``-function``). ACLs cannot filter SCAN
  by pattern, so such a user can list other namespaces' key names, never read them. ACLs
  are per node: on a cluster, set the line on every node (it covers reading the slot map,
  SSUBSCRIBE and SPUBLISH).
  ``cache.flushdb()`` (compat) needs FLUSHDB; prefer ``cache.prepare_cache()``.

Logging
-------
Loggers are ``fullon.cache.<component>`` (base, connection, ...), through fullon_log when it
is installed. The library never adds handlers; hot paths log at DEBUG only, without values.
"""
