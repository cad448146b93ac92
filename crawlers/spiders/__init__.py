"""Spiders, one per source family."""
