"""Claim modules: one per claim of the paper."""
