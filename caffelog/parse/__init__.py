"""Lines to records: the grammar, the shape caches that spare most lines a lark parse, and the
parallel parse of a big file."""
