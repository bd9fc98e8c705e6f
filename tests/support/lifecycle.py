"""``with`` support shared by the test deployments (local cluster, Sentinel set-up)."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Deployment:
    """Starts on entering ``with`` (stopping whatever did start if that fails) and stops on
    leaving it; subclasses provide ``start`` and ``stop``."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
