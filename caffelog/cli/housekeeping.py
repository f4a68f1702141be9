"""`caffelog rules` and `caffelog cache`: what the diagnosis checks, and the parse cache."""
from __future__ import annotations

import click

from caffelog.cli.common import friendly_errors


@click.command("rules")
@friendly_errors
def list_rules() -> None:
    """List the diagnosis rules with what they detect and their thresholds."""
    import inspect

    from caffelog.diagnose.rules import RULES
    for rule in RULES.values():
        defaults = ", ".join(f"{k}={v:g}" for k, v in rule.thresholds.items()) or "no thresholds"
        click.echo(f"{rule.id} ({rule.severity}; {defaults})")
        for line in (inspect.getdoc(rule) or "").splitlines():
            click.echo(f"    {line}")
        click.echo()


@click.group()
def cache() -> None:
    """Manage the cache of parsed tables (a second look at a log is instant)."""


@cache.command("clear")
@friendly_errors
def cache_clear() -> None:
    """Remove every cached parse."""
    from caffelog.tables.cache import cache_dir, clear
    click.echo(f"removed {clear()} cached parses from {cache_dir()}")
