"""The report model and its formats."""
