"""Records to tidy tables: attribution, the tables themselves, windows of them, Parquet, cache."""
