"""Readers and downloaders for the raw benchmark datasets."""
