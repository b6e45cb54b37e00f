"""The errors that end a command, each carrying the exit status of the contract.

Exit status: 0 clean, 1 error findings, 2 usage or configuration, 3 infrastructure.
An error's message is one line that says what is wrong and what to do; it never holds a password.
"""

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INFRASTRUCTURE = 3


class MksDbError(Exception):
    """Base of the errors that stop a command; ``exit_code`` is the status the CLI returns."""

    exit_code = EXIT_USAGE


class ConfigurationError(MksDbError):
    """The project or the command line is wrong: a bad ``-c``, no alembic.ini, a broken revision file."""

    exit_code = EXIT_USAGE


class InfrastructureError(MksDbError):
    """A database server could not be reached, started or asked to create a scratch database."""

    exit_code = EXIT_INFRASTRUCTURE


class ProjectCodeError(ConfigurationError):
    """The project's own code failed before any migration ran: env.py raised on import or while
    setting up, or it migrates a database other than the one it was given. ``path`` and
    ``line`` name the file (for annotations)."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line

    def __reduce__(self):  # keeps path and line when a worker process sends it back
        return (type(self), (str(self), self.path, self.line))


class Stop(Exception):  # noqa: N818 - not an error: the report already says why
    """Ends a command early with the findings already in its report (a broken revision graph)."""
