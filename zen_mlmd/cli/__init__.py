"""The `zen-mlmd` command line: one module per noun, loaded on use (see main.py)."""
