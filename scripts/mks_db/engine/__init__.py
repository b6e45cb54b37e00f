"""What the checks stand on: the project, its migrations run through its own env.py, the
catalogue, generated rows, rendered SQL, the lock probe."""
