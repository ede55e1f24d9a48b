"""ECHO-bench: a benchmark built from what the community posts about an image generator."""

__version__ = "0.1.0"
