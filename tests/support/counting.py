"""A redis-py client that counts its round trips, for tests that pin how many a call costs.

The benchmark counts round trips the same way, so the one implementation lives in
:mod:`fullon_cache.bench`.
"""

from __future__ import annotations

from fullon_cache.bench import counting_client

__all__ = ["counting_client"]
