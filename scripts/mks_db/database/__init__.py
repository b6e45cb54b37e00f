"""PostgreSQL itself: the embedded server and scratch databases, URLs, libpq tools, interrupts."""
