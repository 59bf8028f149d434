"""Provisioning: the interpreters, environments and sources the book runs on (standard library only)."""
