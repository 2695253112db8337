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
import zipfile
from datetime import date, datetime

from flask import Response
from openpyxl.utils import get_column_letter

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


_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_NS_R = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml"
# Cell styles (cellXfs): 0 plain, 1 header (bold, top, wrapped), 2 date and time, 3 date.
_STYLES = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<styleSheet {_NS}>'
           '<numFmts count="2"><numFmt numFmtId="164" formatCode="DD/MM/YYYY HH:MM"/>'
           '<numFmt numFmtId="165" formatCode="DD/MM/YYYY"/></numFmts>'
           '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
           '<font><b val="1"/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
           '<fills count="2"><fill><patternFill/></fill><fill><patternFill patternType="gray125"/></fill></fills>'
           '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
           '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
           '<cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
           '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1" applyAlignment="1">'
           '<alignment vertical="top" wrapText="1"/></xf>'
           '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
           '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
           '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>')
_EPOCH = datetime(1899, 12, 30)


def _xml_text(text: str) -> str:
    text = _XML_BAD.sub("", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _xml_attr(text: str) -> str:
    return _xml_text(text).replace('"', "&quot;")


def _string_cell(ref: str, text: str, style: int = 0) -> str:
    s = f' s="{style}"' if style else ""
    return f'<c r="{ref}" t="inlineStr"{s}><is><t xml:space="preserve">{_xml_text(text)}</t></is></c>'


def to_xlsx(headers: list[str], rows, sheet_title: str = "Export") -> bytes:
    """The workbook's XML written directly (one sheet, inline strings, four
    cell styles): openpyxl builds and serialises an object per cell, some 30 µs
    each, where a table of the indicators holds tens of thousands of cells.
    Text is always stored as text, never as a formula."""
    title = re.sub(r"[\[\]:*?/\\]", " ", sheet_title)[:31] or "Export"
    rows = rows if isinstance(rows, list) else list(rows)
    width = max([len(headers), *[len(r) for r in rows]] if rows else [len(headers)])
    letters = [get_column_letter(i) for i in range(1, width + 1)]
    widths = [len(h) for h in headers] + [0] * (width - len(headers))
    out = [f'<row r="1">{"".join(_string_cell(f"{letters[i]}1", h, 1) for i, h in enumerate(headers))}</row>']
    for n, row in enumerate(rows, start=2):
        cells = []
        for i, raw in enumerate(row):
            value, number_format = _excel_value(raw)
            if value is None:
                continue
            ref = f"{letters[i]}{n}"
            if number_format:
                serial = (value - _EPOCH).total_seconds() / 86400 if isinstance(value, datetime) else \
                    (value - _EPOCH.date()).days
                cells.append(f'<c r="{ref}" s="{2 if isinstance(value, datetime) else 3}"><v>{serial!r}</v></c>')
                length = len(number_format)
            elif isinstance(value, str):
                cells.append(_string_cell(ref, value))
                length = max((len(part) for part in value.splitlines()), default=0)
            else:
                text = repr(value) if isinstance(value, float) else str(value)
                cells.append(f'<c r="{ref}"><v>{text}</v></c>')
                length = len(text)
            if length > widths[i]:
                widths[i] = length
        out.append(f'<row r="{n}">{"".join(cells)}</row>')
    cols = "".join(f'<col min="{i}" max="{i}" width="{min(max(w + 2, _MIN_WIDTH), _MAX_WIDTH)}" customWidth="1"/>'
                   for i, w in enumerate(widths, start=1))
    last_row = max(len(rows) + 1, 1)
    sheet = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet {_NS} {_NS_R}>'
             '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" '
             'state="frozen"/><selection pane="bottomLeft" activeCell="A2" sqref="A2"/></sheetView></sheetViews>'
             f'<sheetFormatPr defaultRowHeight="15"/>{f"<cols>{cols}</cols>" if cols else ""}'
             f'<sheetData>{"".join(out)}</sheetData>'
             + (f'<autoFilter ref="A1:{letters[len(headers) - 1]}{last_row}"/>' if headers else "")
             + "</worksheet>")
    files = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{_CT}.sheet.main+xml"/>'
            f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_CT}.worksheet+xml"/>'
            f'<Override PartName="/xl/styles.xml" ContentType="{_CT}.styles+xml"/></Types>'),
        "_rels/.rels": (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="{_PKG_REL}">'
            f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'),
        "xl/workbook.xml": (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<workbook {_NS} {_NS_R}><sheets>'
            f'<sheet name="{_xml_attr(title)}" sheetId="1" r:id="rId1"/></sheets></workbook>'),
        "xl/_rels/workbook.xml.rels": (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="{_PKG_REL}">'
            f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{_REL}/styles" Target="styles.xml"/></Relationships>'),
        "xl/styles.xml": _STYLES,
        "xl/worksheets/sheet1.xml": sheet,
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, text in files.items():
            archive.writestr(name, text.encode("utf-8"))
    return buffer.getvalue()


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
