"""Ctrl-C that is never lost.

Python raises KeyboardInterrupt wherever the main thread happens to be, and one raised inside a
finaliser (a __del__, a weakref callback) is printed and dropped: the command then runs on to
the end as if nothing happened. So the handler also remembers the interrupt, the parse loop asks
`raise_if_interrupted()` between chunks, and the CLI asks once more before it reports success.
"""
from __future__ import annotations

import signal
import threading

_seen = False


def install():
    """Handle SIGINT here (main thread only); returns the handler it replaced."""
    global _seen
    _seen = False
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGINT, _handler)


def restore(previous) -> None:
    if previous is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, previous)


def _handler(signum, frame) -> None:
    global _seen
    _seen = True
    raise KeyboardInterrupt


def raise_if_interrupted() -> None:
    """Raise KeyboardInterrupt if Ctrl-C came and was swallowed since install()."""
    if _seen:
        raise KeyboardInterrupt
