"""One module per check, named as the check (see docs/checks.md)."""
