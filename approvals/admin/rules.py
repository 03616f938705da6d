"""Rules admin."""
