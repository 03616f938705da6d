"""Benchmarks of the order back-office on PostgreSQL (`make bench`, see __main__.py)."""
