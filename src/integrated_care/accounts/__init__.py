"""Accounts: users, roles, the organisations they act for, sessions, tokens, policy, audit."""
