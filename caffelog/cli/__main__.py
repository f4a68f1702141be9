"""`python -m caffelog.cli`: the console script."""
from caffelog.cli import entry

entry()
