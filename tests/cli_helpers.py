"""Helpers for tests that run the `zen-mlmd` command."""


def error_of(result) -> str:
    """The one `Error: ...` line (warnings, e.g. about broken plugins, may come before it)."""
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]
