"""Moving from the older fullon_cache (0.4/0.5) to this one.

Example::

    from fullon_cache.docs.migration import MIGRATION_GUIDE
"""

MIGRATION_GUIDE = """\
Migrating from the older fullon_cache
=====================================

What keeps working
------------------
* ``async with XCache() as cache:`` with no arguments; ``cache.close()``;
  ``cache._cache.close()``; ``cache._redis_context()`` yielding the redis-py client;
  ``await ConnectionPool.reset_async()`` (from ``fullon_cache.connection``);
  ``cache.test()``, ``cache.prepare_cache()``, ``cache.get_keys()``, ``cache.flushdb()``,
  ``cache.push_global_error()`` / ``cache.pop_global_error()``.

What changed on purpose
-----------------------
* Importing fullon_cache configures nothing: no ``load_dotenv()`` into ``os.environ``, no
  logging handlers, no uvloop event-loop policy. Applications choose their loop
  (``uvloop.run(main())``) and their logging; the ``fullon-cache`` command and the examples
  configure logging from LOG_* variables.
* Infrastructure failures raise ``CacheError`` subclasses instead of being logged and
  returned as False/None/"". A miss is still None (or False, or "" where documented).
* ``prepare_cache()`` deletes only the keys of its own namespace (SCAN + UNLINK) instead of
  flushing the whole server, and returns how many it deleted.
* ``get_keys(pattern)`` matches inside the namespace and returns keys without it; it uses SCAN,
  never KEYS.
* ``pop_global_error(timeout=0)`` does not block; a positive timeout waits up to that many
  seconds and returns None if nothing arrives.
* Caches built without a client share pools per event loop; nothing pings before each
  command; redis-py's automatic resending of failed commands is off.

Wire format
-----------
Every key now starts with the namespace (REDIS_KEY_PREFIX, default ``fullon``) and the data is
JSON. Data written by the older library is not read by this one; clear it (or let it expire)
when switching a deployment over.

* Global error queue: ``global_error`` (entries ``"<message>:<component>"``) is now
  ``<prefix>:errors:global``, capped at 1,000 entries; entries are the message text as given
  (put the component into the message if you need it).
* Processes: ``process:data:<id>`` (JSON) and the ``process:active:<type>`` /
  ``process:components`` hashes are now ``<prefix>:{processes}:record:<id>`` (a hash, params as
  ``param:<name>`` fields), ``<prefix>:{processes}:active`` (sorted by last update) and
  ``<prefix>:{processes}:components``. Process ids are ``<type>:<component>:<random>``.
  Records gained ``last_seen`` (epoch seconds of the last heartbeat).
* Websocket errors: ``ws_error:<ex_id>`` is now ``<prefix>:errors:ws:<ex_id>``, capped.
* Exchanges and symbols: ``exchange:<id>``, ``user_exchanges:<uid>`` and
  ``cat_exchanges:<name>:<all>`` are now ``<prefix>:exchanges:id:<ex_id>``,
  ``<prefix>:exchanges:user:<uid>`` and ``<prefix>:exchanges:catalog``; symbols live in
  ``<prefix>:symbols:<cat_ex_id>``. All are read through from the database again after the
  switch.

* Tickers: the ``tickers:<exchange>`` hash is now ``<prefix>:{tickers:<exchange>}:latest``
  (values are the JSON of the Tick model), with ``...:times`` beside it; updates are published
  on ``<prefix>:{tickers:<exchange>}:updates`` (one channel per exchange, the payload is the
  tick). ``<prefix>:tickers:exchanges`` lists the exchanges; the crawler configuration moved
  from ``tick`` to ``<prefix>:tickers:crawlers``.

* Accounts, balances, positions: ``accounts`` (hash) is now ``<prefix>:accounts``; balances
  and positions are ``<prefix>:balances:<ex_id>`` and ``<prefix>:positions:<ex_id>`` (one
  hash per exchange account, so ``get_positions(ex_id)`` returns only that account's), with
  the accounts that have positions in the set ``<prefix>:position_accounts``.
* Orders: the ``order_status:<exchange>`` hash (one JSON per order, expiring as a whole) is
  now one hash per order, ``<prefix>:{orders:<exchange>}:order:<id>``, plus an id set; queue
  items are no longer bare order ids on a list popped with BLPOP but ``<id>:<JSON>`` items on
  ``<prefix>:{oq:<queue>}:pending`` moved to ``...:processing`` while handled.
* Trades: lists are ``<prefix>:trades:list:{<exchange>}:<SYMBOL without />`` (and
  ``...:trades:exchange:{<exchange>}``, ``...:trades:user:{<uid>}:<exchange>``); statuses moved from
  ``TRADE:STATUS:<key>`` / ``USER_TRADE:STATUS:<key>`` to the hashes ``<prefix>:trades:status``
  and ``<prefix>:trades:user_status``.

* Bots: blocks were fields of one ``block_exchange`` hash without expiry; now each
  (exchange, symbol) has its own key ``<prefix>:{lk:<exchange>}:lock:<symbol>`` (value: the
  bot id, optional TTL) and a fencing counter ``...:fence:<symbol>`` beside it. Opening
  marks and bot status are the hashes ``<prefix>:bots:opening`` and ``<prefix>:bots:status``.
* OHLCV: lists of bars became sorted sets ``<prefix>:ohlcv:{<SYMBOL without />}:<timeframe>``.

Behaviour changes in the layers
-------------------------------
* ``update_process()`` merges params atomically (the older read-modify-write could lose a
  concurrent update) and returns False only for an unknown process; Redis failures raise.
* Exchange and symbol reads no longer swallow database or Redis errors into ``None``/``[]``:
  a failing source raises ``CacheSourceError``, Redis failures a ``CacheError``.
* ``get_any_ticker()`` searches every exchange that has tickers (no fixed list of five).
* ``round_down()`` raises on Redis failures instead of returning (0, 0, 0), and never changes
  the list it is given.
* ``get_next_ticker()`` returns a Tick or None, whatever its argument.
* ``update_ticker(exchange, tick)`` stores the tick; it no longer fails silently.
* ``set_ticker()`` refuses to replace a newer stored tick (returns False) and rejects invalid
  ticks (missing or non-finite price or time) instead of storing them.
* Canceling one order no longer expires every order of its exchange.
* ``pop_open_order()`` cannot lose an order any more (BLMOVE onto a processing list); orders
  that were taken but never acknowledged come back with ``requeue_stale_orders()``.
* ``get_positions(ex_id)`` returns only that exchange account's positions.
* ``block_exchange()`` is a compare-and-set: a second bot gets False instead of overwriting
  the block; ``is_blocked()`` raises on a Redis failure instead of returning "".
"""
