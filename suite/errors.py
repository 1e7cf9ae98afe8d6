"""Exceptions that the command line turns into a clear message and an exit status."""

from __future__ import annotations


class SuiteError(Exception):
    """Base class of every error the CLI reports without a traceback."""

    exit_code = 2


class SpecError(SuiteError):
    """A spec (or a command-line override of it) is invalid. Exit status 2."""


class UnknownNameError(SpecError):
    """A registry lookup failed; the message lists the known names."""


class StoreError(SuiteError):
    """The results store cannot be used (schema, permissions, disk). Exit status 2."""


class DataError(SuiteError):
    """A dataset cannot be found or read; the message says which layouts were tried."""
