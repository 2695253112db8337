"""Table exports as CSV and XLSX (SPEC §3 [4.2] habilitation table, §7 indicators).

- CSV for French Excel: ';' separator, UTF-8 with a BOM (without it Excel reads
  the accents as Windows-1252), CRLF line ends.
- XLSX (ep_web.xlsx): bold, frozen header row, an auto-filter, column widths
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

from ep_web import xlsx
from ep_web.clock import to_paris, today
from ep_web.domain import audit

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_MIN_WIDTH, _MAX_WIDTH = 8, 60
_INF = float("inf")
_BIG = 10**15  # integers written as str() writes them (16 digits at most)


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


def _xlsx_cell(sheet: xlsx.SheetWriter, ref: str, value) -> tuple[str, int] | None:
    """The cell of ``value`` at ``ref`` and its width in characters, or None
    for no cell (an empty text). Integers of a usual size and texts on one
    line take faster paths in to_xlsx."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value != value or value in (_INF, -_INF):
            return sheet.text_cell(ref, str(value)), len(str(value))  # no such number in Excel: said as text
        return f'<c r="{ref}"><v>{xlsx.number_text(value)}</v></c>', len(str(value))
    if isinstance(value, datetime):
        # Excel has no time zones: the Paris wall-clock time, as the screens show.
        return (f'<c r="{ref}" s="{xlsx.STYLE_DATETIME}"><v>{xlsx.serial(to_paris(value).replace(tzinfo=None))}'
                "</v></c>", 16)
    if isinstance(value, date):
        return f'<c r="{ref}" s="{xlsx.STYLE_DATE}"><v>{xlsx.serial(value)}</v></c>', 10
    text = text_cell(value)
    if not text:
        return None
    length = max(len(part) for part in text.splitlines()) if "\n" in text or "\r" in text else len(text)
    return sheet.text_cell(ref, text), length


def to_xlsx(headers: list[str], rows, sheet_title: str = "Export") -> bytes:
    """The rows as one sheet (ep_web.xlsx: SpreadsheetML written directly,
    four times faster than XlsxWriter's object per cell on a caisse's
    indicators export, ~2 500 rows × 13 columns), with a bold frozen header
    row, an auto-filter, column widths fitted to the content, dates as real
    Excel dates in Paris time. Every cell is written by its type: a text is
    always a text cell (never a formula, a number or a link, whatever it
    starts with); an empty text or None is no cell."""
    sheet = xlsx.SheetWriter()
    rows = rows if isinstance(rows, list) else list(rows)
    # The letters and widths of every column, made once (not tested per cell).
    n_cols = max(len(headers), max(map(len, rows), default=0))
    widths = [len(h) for h in headers] + [0] * (n_cols - len(headers))
    used = len(headers)  # the widths written: the headers' columns and any holding a cell
    letters = [xlsx.column_letter(col) for col in range(n_cols)]
    sheet.add_row([sheet.text_cell(f"{letters[col]}1", text, xlsx.STYLE_HEADER) for col, text in enumerate(headers)],
                  len(headers) - 1)
    text_ref = sheet.text_cell
    for n, row in enumerate(rows, start=2):
        cells = []
        add = cells.append
        last_col = -1
        for col, value in enumerate(row):
            if value is None:
                continue
            kind = type(value)
            if kind is int and -_BIG < value < _BIG:  # most cells of an indicators export
                text = str(value)
                add(f'<c r="{letters[col]}{n}"><v>{text}</v></c>')
                length = len(text)
            elif kind is str and value and "\n" not in value and "\r" not in value:
                add(text_ref(f"{letters[col]}{n}", value))
                length = len(value)
            else:
                cell = _xlsx_cell(sheet, f"{letters[col]}{n}", value)
                if cell is None:
                    continue
                add(cell[0])
                length = cell[1]
            last_col = col
            if length > widths[col]:
                widths[col] = length
        if last_col >= used:
            used = last_col + 1
        sheet.add_row(cells, last_col)
    widths = [min(max(width + 2, _MIN_WIDTH), _MAX_WIDTH) for width in widths[:used]]
    # The characters a sheet's name may not hold, nor begin or end with (').
    name = re.sub(r"[\[\]:*?/\\]", " ", sheet_title)[:31].strip("'") or "Export"
    return xlsx.package(name, sheet, widths, header_columns=len(headers))


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
