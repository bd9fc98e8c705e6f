"""Sample model values shared by the tests (later layers build on them too)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fullon_cache.models import (
    Balance,
    CatExchange,
    Exchange,
    Order,
    Position,
    Symbol,
    Tick,
    Trade,
)

WHEN = datetime(2024, 5, 1, 12, 30, 15, 250000, tzinfo=UTC)

# Every storable field of every model set to a value other than its default.
FULL_VALUES: dict[type, dict[str, Any]] = {
    Tick: {
        "symbol": "ETH/USDT", "exchange": "kraken", "price": 3000.5, "volume": 12.5,
        "time": 1714566600.25, "bid": 3000.0, "ask": 3001.0, "last": 3000.5, "change": -4.5,
        "percentage": -0.15,
    },
    Symbol: {
        "symbol_id": 9, "symbol": "ETH/USDT", "cat_ex_id": 2, "base": "ETH", "quote": "USDT",
        "decimals": 4, "updateframe": "5m", "backtest": 60, "futures": True,
        "only_ticker": True,
    },
    Order: {
        "order_id": 1, "ex_order_id": "x-1", "ex_id": "7", "cat_ex_id": 2, "exchange": "kraken",
        "symbol": "ETH/USDT", "side": "sell", "order_type": "limit", "volume": 1.5,
        "final_volume": 1.25, "price": 3000.0, "plimit": 2990.0, "tick": 0.01, "futures": True,
        "leverage": 3.0, "command": "open", "reason": "signal", "status": "open",
        "bot_id": 4, "uid": 5, "timestamp": WHEN,
    },
    Trade: {
        "trade_id": 1, "ex_trade_id": "t-1", "ex_order_id": "x-1", "uid": 5, "ex_id": 7,
        "symbol": "ETH/USDT", "order_type": "market", "side": "buy", "volume": 2.0,
        "price": 3000.0, "cost": 6000.0, "fee": 6.0, "cur_volume": 2.0,
        "cur_avg_price": 3000.0, "cur_avg_cost": 6000.0, "cur_fee": 6.0, "roi": 12.0,
        "roi_pct": 0.2, "total_fee": 12.0, "leverage": 2.0, "time": WHEN,
    },
    Position: {
        "symbol": "ETH/USDT", "cost": 6000.0, "volume": 2.0, "fee": 6.0, "count": 3.0,
        "price": 3000.0, "timestamp": 1714566600.0, "ex_id": "7", "side": "long",
        "realized_pnl": 10.0, "unrealized_pnl": -5.0,
    },
    Exchange: {
        "ex_id": 7, "uid": 5, "cat_ex_id": 2, "name": "main", "test": True, "active": False,
    },
    CatExchange: {"cat_ex_id": 2, "name": "kraken", "ohlcv_view": "kraken_ohlcv"},
    Balance: {"currency": "ETH", "total": 3.0, "free": 2.0, "used": 1.0},
}  # fmt: skip
