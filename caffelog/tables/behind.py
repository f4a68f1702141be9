"""Work done on a thread one step behind the main loop: Parquet row groups, as windows stream.

pyarrow releases the GIL while it encodes and compresses (~0.15 s a window), so the main thread
builds the next window meanwhile. At most one step is in flight: memory holds one window more.
"""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor


class OneBehind:
    """Run each step on a worker thread after the previous one has finished; an error in a
    step is raised by the next `then` or by `wait`."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="caffelog-writer")
        self._pending: Future | None = None

    def then(self, step: Callable[..., object], *args, **kwargs) -> None:
        self.wait()
        self._pending = self._pool.submit(step, *args, **kwargs)

    def wait(self) -> None:
        """Until the step in flight is done (its error raised here)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        """Stop the thread once the step in flight is done; its error, if any, is not raised
        (for giving up: the caller is failing or discarding anyway)."""
        self._pending = None
        self._pool.shutdown(wait=True)

    def __enter__(self) -> OneBehind:
        return self

    def __exit__(self, *exc) -> None:
        try:
            if exc[0] is None:
                self.wait()
        finally:
            self.close()
