"""Policies and claims: the ledger experience rating learns from (issue 30)."""
