"""Table exports as CSV and XLSX (SPEC §3 [4.2] habilitation table, §7 indicators).

- CSV for French Excel: ';' separator, UTF-8 with a BOM (without it Excel reads
  the accents as Windows-1252), CRLF line ends.
- XLSX with openpyxl: bold, frozen header row, an auto-filter, column widths
  fitted to the content, dates as real Excel dates in Paris time.
- Cells a spreadsheet would run as a formula (=, +, -, @ ...) are written as text.
- Every export is a security-relevant action (SPEC §7): ``export_response``
  records it in the audit log; the caller commits.
"""
import csv
import io
import re
import unicodedata
from datetime import date, datetime

from flask import Response

from ep_web.clock import to_paris, today
from ep_web.domain import audit

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_MIN_WIDTH, _MAX_WIDTH = 8, 60


def text_cell(value) -> str:
    """Text for a CSV cell: dates in Paris time, French order."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return to_paris(value).strftime("%d/%m/%Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, bool):
        return "oui" if value else "non"
    return str(value)


def _defused(text: str) -> str:
    """CSV injection: a leading quote makes the spreadsheet show the text as is."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def to_csv(headers: list[str], rows) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(headers)
    for row in rows:
        writer.writerow([_defused(text_cell(v)) for v in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _excel_value(value):
    if isinstance(value, datetime):
        # Excel has no time zones: the Paris wall-clock time, as the screens show.
        return to_paris(value).replace(tzinfo=None), "DD/MM/YYYY HH:MM"
    if isinstance(value, date):
        return value, "DD/MM/YYYY"
    if value is None:
        return None, None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value, None
    return text_cell(value), None


def to_xlsx(headers: list[str], rows, sheet_title: str = "Export") -> bytes:
    # Imported here: openpyxl weighs megabytes in every worker that never exports.
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    # Write-only mode: the rows are streamed to the file, not kept as a grid of
    # cell objects (an indicators export of a caisse is ~2 500 rows × 13 columns);
    # the column widths are known first, from the values.
    rows = [[_excel_value(raw) for raw in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in rows:
        for col, (value, number_format) in enumerate(row):
            if number_format:
                length = len(number_format)
            else:
                length = max((len(part) for part in str(value or "").splitlines()), default=0)
            if col < len(widths):
                widths[col] = max(widths[col], length)
            else:
                widths.append(length)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(re.sub(r"[\[\]:*?/\\]", " ", sheet_title)[:31] or "Export")
    for col, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(col)].width = min(max(width + 2, _MIN_WIDTH), _MAX_WIDTH)
    ws.freeze_panes = "A2"
    if headers:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{max(len(rows) + 1, 1)}"
    bold, top = Font(bold=True), Alignment(vertical="top", wrap_text=True)
    header_cells = []
    for header in headers:
        c = WriteOnlyCell(ws, value=header)
        c.font, c.alignment = bold, top
        header_cells.append(c)
    ws.append(header_cells)
    for row in rows:
        cells = []
        for value, number_format in row:
            if number_format or (isinstance(value, str) and value.startswith("=")):
                c = WriteOnlyCell(ws, value=value)
                if number_format:
                    c.number_format = number_format
                else:
                    c.data_type = "s"  # openpyxl would store it as a formula
                cells.append(c)
            else:
                cells.append(value)
        ws.append(cells)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def slug(text: str) -> str:
    """ASCII, lower case, dashes: safe in a Content-Disposition filename."""
    ascii_text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60] or "export"


def filename(stem: str, fmt: str) -> str:
    """``<stem>-<YYYY-MM-DD>.<fmt>``, the date of the export (Paris)."""
    return f"{slug(stem)}-{today().isoformat()}.{fmt}"


def export_response(
    fmt: str,
    *,
    stem: str,
    headers: list[str],
    rows,
    actor,
    what: str,
    sheet_title: str = "Export",
    **audit_details,
) -> Response:
    """Build the file as an attachment and write the audit event (``export``,
    with ``what``, the format and the row count). The caller commits."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    rows = [list(r) for r in rows]
    body = to_csv(headers, rows) if fmt == "csv" else to_xlsx(headers, rows, sheet_title)
    audit.record("export", actor, what=what, format=fmt, rows=len(rows), **audit_details)
    response = Response(body, content_type=FORMATS[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="{filename(stem, fmt)}"'
    return response
