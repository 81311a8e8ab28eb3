"""Failure logs (TW-25): ``<Module>FailureLogs.csv``, its file name and its columns, for either engine."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable

FAILURE_CSV_COLUMNS = ("Record Id", "Record Name", "Reason", "Sync Id", "Time")


def failure_csv_filename(module: str) -> str:
    """``customers`` -> ``CustomersFailureLogs.csv``; ``services_and_parts`` -> ``ServicesAndParts…``."""
    parts = [p for p in re.split(r"[_\s\-]+", module) if p]
    name = "".join(p if p[:1].isupper() else p[:1].upper() + p[1:] for p in parts) or "Module"
    return f"{name}FailureLogs.csv"


def render_csv(rows: Iterable[Iterable[str]]) -> str:
    """CSV text with CRLF line ends, as the failure logs are downloaded."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return buf.getvalue()
