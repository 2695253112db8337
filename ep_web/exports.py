"""Table exports as CSV and XLSX (SPEC §3 [4.2] habilitation table, §7 indicators).

- CSV for French Excel: ';' separator, UTF-8 with a BOM (without it Excel reads
  the accents as Windows-1252), CRLF line ends.
- XLSX with XlsxWriter: bold, frozen header row, an auto-filter, column widths
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


def _csv_cell(value) -> str:
    """_defused(text_cell(value)), the commonest cells first (a caisse's
    indicators export is ~32 000 of them, nearly all integers)."""
    kind = type(value)
    if kind is int:
        text = str(value)
        return "'" + text if text[0] == "-" else text
    if kind is str:
        return _defused(value)
    if value is None:
        return ""
    return _defused(text_cell(value))


def to_csv(headers: list[str], rows) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(headers)
    cell = _csv_cell
    for row in rows:
        writer.writerow([cell(v) for v in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(headers: list[str], rows, sheet_title: str = "Export") -> bytes:
    """The rows as one sheet, written by XlsxWriter (a writer only: about twice
    as fast as openpyxl's write-only mode on an indicators export of a caisse,
    ~2 500 rows × 13 columns). Every cell is written by its type: a text is
    always a text cell (never a formula, a number or a link, whatever it
    starts with); an empty text or None is no cell."""
    # Imported here: only a worker that exports loads it.
    import xlsxwriter

    out = io.BytesIO()
    wb = xlsxwriter.Workbook(out, {"in_memory": True})
    # The characters a sheet's name may not hold, nor begin or end with (').
    ws = wb.add_worksheet(re.sub(r"[\[\]:*?/\\]", " ", sheet_title)[:31].strip("'") or "Export")
    formats = {"DD/MM/YYYY HH:MM": wb.add_format({"num_format": "DD/MM/YYYY HH:MM"}),
               "DD/MM/YYYY": wb.add_format({"num_format": "DD/MM/YYYY"})}
    header = wb.add_format({"bold": True, "valign": "top", "text_wrap": True})
    widths = [len(h) for h in headers]
    write_string, write_number, write_datetime = ws.write_string, ws.write_number, ws.write_datetime
    for col, text in enumerate(headers):
        write_string(0, col, text, header)
    n = 0
    for n, row in enumerate(rows, start=1):
        for col, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, datetime):
                # Excel has no time zones: the Paris wall-clock time, as the screens show.
                number_format, length = "DD/MM/YYYY HH:MM", 16
                write_datetime(n, col, to_paris(value).replace(tzinfo=None), formats[number_format])
            elif isinstance(value, date):
                number_format, length = "DD/MM/YYYY", 10
                write_datetime(n, col, value, formats[number_format])
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                write_number(n, col, value)
                length = len(str(value))
            else:
                text = text_cell(value)
                if not text:
                    continue
                write_string(n, col, text)
                length = max(len(part) for part in text.splitlines()) if "\n" in text or "\r" in text else len(text)
            if col < len(widths):
                if length > widths[col]:
                    widths[col] = length
            else:
                widths.extend([0] * (col - len(widths)) + [length])
    for col, width in enumerate(widths):
        ws.set_column(col, col, min(max(width + 2, _MIN_WIDTH), _MAX_WIDTH))
    ws.freeze_panes(1, 0)
    if headers:
        ws.autofilter(0, 0, max(n, 0), len(headers) - 1)
    wb.close()
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
