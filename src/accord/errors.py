"""Accord's exception tree.

Every error a user can cause ends in one of these, with a sentence that says what is wrong
and where; the CLI prints that sentence and exits with code 2 (usage/configuration) or 1.

    AccordError
    ├── ConfigError            the configuration is invalid (names file, line, what is wrong)
    ├── FilterError            a $filter expression does not parse (names the position)
    ├── UsageError             a command was asked for something that does not exist or fit
    ├── StateError             the state store cannot be opened or migrated
    │   ├── BusyError             another run holds a mapping this one needs (exit code 3)
    │   │   └── LeaseLostError        another run took over a mapping this one was working on
    │   └── NewStoreError         the state store knows nothing of records both systems hold
    ├── ConnectorError         a system could not be reached or answered with an error
    │   ├── RetriableConnectorError   worth trying again (lost connection, timeout, lock)
    │   └── FatalConnectorError       will fail again the same way (bad credentials, schema)
    │       └── ChangeTokenExpired        a change-tracking token the system no longer knows
    └── RecordError            one record cannot be processed; the pass logs it and goes on
"""

from __future__ import annotations

from accord.secrets import redact


class AccordError(Exception):
    """Base of every error Accord raises on purpose.

    Its text never holds a secret: the arguments go through :func:`accord.secrets.redact`
    (a driver's message may quote the URL, password and all).
    """

    def __init__(self, *args: object) -> None:
        super().__init__(*(redact(a) if isinstance(a, str) else a for a in args))


class ConfigError(AccordError):
    """The configuration is invalid.

    ``source`` and ``line`` locate the problem (``line`` is 1-based, 0 when unknown).
    ``setting`` names the table setting at fault (``key``, ``modified``) when a connector
    finds the problem, so that the caller can point at that line of the configuration.
    """

    def __init__(self, message: str, *, source: str = "", line: int = 0, setting: str = "") -> None:
        self.message = redact(message)
        self.source = source
        self.line = line
        self.setting = setting
        where = f"{source}:{line}: " if source and line else (f"{source}: " if source else "")
        super().__init__(f"{where}{message}")


class FilterError(AccordError):
    """A filter expression is malformed; ``position`` is the 0-based character offset."""

    def __init__(self, message: str, *, text: str = "", position: int = 0) -> None:
        self.message = redact(message)
        self.text = text
        self.position = position
        super().__init__(f"{message} at position {position + 1} in filter {text!r}")


class UsageError(AccordError):
    """A request names something that does not exist or cannot be done as asked."""


class StateError(AccordError):
    """The state store cannot be opened, migrated or used."""


class BusyError(StateError):
    """Another run holds the lease of a mapping this run needs; try again later (or wait)."""


class LeaseLostError(BusyError):
    """This run's lease of a mapping expired and another run took it over (exit code 3).

    Raised before a write, never after one that went unrecorded: the run stops at once, as
    a *fenced* holder, and the run that holds the lease now finishes the work.
    """

    def __init__(self, message: str, mappings: tuple[str, ...]) -> None:
        super().__init__(message)
        self.mappings = mappings


class NewStoreError(StateError):
    """The state store looks new or lost while both systems hold records of a mapping.

    A full synchronization would then create a second copy of every record present on both
    sides; it is refused (exit code 2) until the user confirms (``--i-know``) or couples the
    records first (``accord match``).
    """


class ConnectorError(AccordError):
    """A system could not be reached or refused an operation."""


class RetriableConnectorError(ConnectorError):
    """A transient failure: the same call may succeed later."""


class FatalConnectorError(ConnectorError):
    """A permanent failure: retrying the same call will not help."""


class ChangeTokenExpired(FatalConnectorError):
    """A change-tracking token is too old (Dataverse keeps changes 7 days) or unknown: the
    pass reads by modified-on time instead and takes a new token."""


class RecordError(AccordError):
    """One record cannot be synchronized; the pass records the reason and continues."""
