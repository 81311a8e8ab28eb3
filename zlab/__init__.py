"""Zoho Sync Lab: the ``zlab`` command line (``zlab.cli``) and the servers it runs (``zlab.server``)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("zoho-sync-lab")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"
