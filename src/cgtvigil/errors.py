"""The exception and warning tree of cgtvigil.

::

    CgtVigilError
    ├── BusyError (TimeoutError)          the audit trail stayed held by other writers; nothing changed
    ├── ValidationError (ValueError)      bad parameters or input values, all problems listed
    ├── IngestError                       an input file cannot be read as a whole
    │   ├── ParseError                    ... with the file and line (or field) at fault
    │   │   └── ReconciliationError       read != loaded + quarantined
    │   └── ArchiveError                  a zip or its member is corrupt, encrypted or beyond a limit
    ├── ConvergenceError                  an optimiser did not converge
    ├── StoreError                        the analytic store cannot be opened or read
    │   └── StaleStoreError               ... its case view or drug map predates the loaded files
    └── TerminologyNotConfiguredError     a licensed terminology is needed but absent

    CgtVigilWarning (UserWarning)
    ├── StatisticalCaveatWarning          e.g. a zero cell was corrected
    └── DataQualityWarning                e.g. an encoding fallback or unknown code
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "ArchiveError",
    "BusyError",
    "CgtVigilError",
    "CgtVigilWarning",
    "ConvergenceError",
    "DataQualityWarning",
    "IngestError",
    "NotFoundError",
    "NotInScopeError",
    "ParseError",
    "ReconciliationError",
    "StaleStoreError",
    "StatisticalCaveatWarning",
    "StoreError",
    "TerminologyNotConfiguredError",
    "ValidationError",
]


class CgtVigilError(Exception):
    """Base class of every error raised by cgtvigil."""


class BusyError(CgtVigilError, TimeoutError):
    """A shared resource (the audit trail) stayed held by other writers for longer than the
    wait allowed. Nothing was changed: the same request can be sent again."""


class ValidationError(CgtVigilError, ValueError):
    """One or more parameters or input values are invalid.

    ``problems`` lists every problem found, so that a user can fix them all at once.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            message = f"{len(self.problems)} problems:\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(message)


class IngestError(CgtVigilError):
    """An input file or archive cannot be ingested."""


class ParseError(IngestError):
    """A file cannot be parsed; names the file and, where known, the line or field."""

    def __init__(self, message: str, *, file: str, line: int | None = None, field: str | None = None) -> None:
        self.file = file
        self.line = line
        self.field = field
        where = file
        if line is not None:
            where += f", line {line}"
        if field is not None:
            where += f", field '{field}'"
        super().__init__(f"{where}: {message}")


class ReconciliationError(ParseError):
    """The import counts do not balance: read != loaded + quarantined."""


class ConvergenceError(CgtVigilError):
    """An optimiser did not converge; the message says what to check next."""


class StoreError(CgtVigilError):
    """The analytic store cannot be opened or read (locked by a writer, missing tables, a
    database error); the message names the store and says what to do."""


class StaleStoreError(StoreError):
    """The store's derived tables (the case view ``report``, the drug map) were not built from
    the files now loaded, e.g. after an ingest was interrupted; re-run the ingest."""


class NotFoundError(CgtVigilError, LookupError):
    """A thing asked for does not exist, or is outside the reader's scope (the two are not told
    apart, so that existence does not leak): a page answers 404."""


class NotInScopeError(CgtVigilError, PermissionError):
    """The reader's scope does not include this kind of data at all (a page answers 403)."""


class TerminologyNotConfiguredError(CgtVigilError):
    """A feature needs a licensed terminology (e.g. MedDRA) that is not configured."""

    def __init__(self, terminology: str) -> None:
        self.terminology = terminology
        super().__init__(
            f"TERMINOLOGY_NOT_CONFIGURED({terminology}): this feature needs your own licensed "
            f"{terminology} release; point cgtvigil at it (see --help of the command)."
        )


class CgtVigilWarning(UserWarning):
    """Base class of cgtvigil warnings."""


class StatisticalCaveatWarning(CgtVigilWarning):
    """A statistical result carries a caveat (zero-cell correction, sparse stratum, ...)."""


class DataQualityWarning(CgtVigilWarning):
    """Input data had a quality issue that was handled (encoding fallback, unknown code, ...)."""


class ArchiveError(IngestError):
    """A zip archive or one of its members cannot be read as a whole: corrupt (bad CRC or
    deflate data), encrypted, or beyond the decompressed-size or compression-ratio limit; the
    message names the archive and the member."""
