"""Where caffelog keeps what it can compute again: the user's cache directory.

Parsed tables (tables/cache.py) and the built grammar (parse/grammar.py) live there.
``CAFFELOG_CACHE_DIR`` moves it (tests use it).
"""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    env = os.environ.get("CAFFELOG_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs
    return Path(platformdirs.user_cache_dir("caffelog"))
