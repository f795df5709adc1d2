"""Accounts, tokens, robots and the permission matrix."""
