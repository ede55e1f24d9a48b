"""Test helpers shipped with the package (the loopback API stub)."""
