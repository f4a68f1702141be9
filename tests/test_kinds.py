"""Record kinds are the grammar's rule names: the code's constants cannot drift from it."""
from __future__ import annotations

import re

from caffelog.parse import kinds
from caffelog.parse.grammar import grammar_path


def _rules() -> set[str]:
    return set(re.findall(r"^\??!?([a-z_][a-z0-9_]*)\s*:", grammar_path().read_text(), re.M))


def test_every_named_kind_is_a_rule_of_the_grammar():
    named = {value for name, value in vars(kinds).items() if name.isupper() and isinstance(value, str)}
    assert len(named) > 30 and named <= _rules()


def test_every_kind_with_fields_or_a_store_is_a_rule():
    used = (set(kinds.FIELD_NAMES) | set(kinds.BLOB_KINDS) | kinds.EVENT_KINDS | kinds.COLUMNAR_KINDS)
    assert used <= _rules()
