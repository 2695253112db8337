"""One-sheet XLSX files written directly as SpreadsheetML (ep_web.exports.to_xlsx).

The parts are those XlsxWriter wrote for the same sheet (its styles, theme,
frozen header, auto-filter and column widths), but the cells are formatted
by a few f-strings per row: XlsxWriter builds and stores an object per cell,
then writes each through several calls (a caisse's indicators export, ~2 500
rows × 13 columns, spent ~100 ms there; see the commit that brought this).

What a cell is, is decided by the caller (``Cell`` kinds): a text is always a
shared string (``t="s"``), never a formula, a number or a link, whatever it
starts with; the characters XML 1.0 cannot hold are escaped as Excel does
(``_xHHHH_``).
"""
from __future__ import annotations

import io
import re
import zipfile
from datetime import date, datetime

from xlsxwriter.theme import THEME_XML_2007

MAX_TEXT = 32_767  # Excel's longest text in a cell, in UTF-16 units (XlsxWriter cut there too)
STYLE_HEADER, STYLE_DATETIME, STYLE_DATE = 1, 2, 3

_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT = "application/vnd.openxmlformats-officedocument."

CONTENT_TYPES = (
    _XML + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    f'<Override PartName="/xl/styles.xml" ContentType="{_CT}spreadsheetml.styles+xml"/>'
    f'<Override PartName="/xl/theme/theme1.xml" ContentType="{_CT}theme+xml"/>'
    f'<Override PartName="/xl/workbook.xml" ContentType="{_CT}spreadsheetml.sheet.main+xml"/>'
    f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_CT}spreadsheetml.worksheet+xml"/>'
    f'<Override PartName="/xl/sharedStrings.xml" ContentType="{_CT}spreadsheetml.sharedStrings+xml"/>'
    "</Types>")
ROOT_RELS = (
    _XML + f'<Relationships xmlns="{_PKG_REL}">'
    f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
WORKBOOK_RELS = (
    _XML + f'<Relationships xmlns="{_PKG_REL}">'
    f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{_REL}/theme" Target="theme/theme1.xml"/>'
    f'<Relationship Id="rId3" Type="{_REL}/styles" Target="styles.xml"/>'
    f'<Relationship Id="rId4" Type="{_REL}/sharedStrings" Target="sharedStrings.xml"/></Relationships>')
_FONT = '<sz val="11"/><color theme="1"/><name val="Calibri"/><family val="2"/><scheme val="minor"/>'
# Style 0: default; 1: the header (bold, top, wrapped); 2: date and time; 3: date.
STYLES = (
    _XML + f'<styleSheet xmlns="{_MAIN}">'
    '<numFmts count="2"><numFmt numFmtId="164" formatCode="DD/MM/YYYY HH:MM"/>'
    '<numFmt numFmtId="165" formatCode="DD/MM/YYYY"/></numFmts>'
    f'<fonts count="2"><font>{_FONT}</font><font><b/>{_FONT}</font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1" applyAlignment="1">'
    '<alignment vertical="top" wrapText="1"/></xf>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles><dxfs count="0"/>'
    '<tableStyles count="0" defaultTableStyle="TableStyleMedium9" defaultPivotStyle="PivotStyleLight16"/>'
    "</styleSheet>")

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\ufffe\uffff]")
_ESCAPE_LIKE = re.compile(r"(_x[0-9a-fA-F]{4}_)")


def column_letter(col: int) -> str:
    """0 → A, 25 → Z, 26 → AA ..."""
    letters = ""
    col += 1
    while col:
        col, rest = divmod(col - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def escape_text(text: str) -> str:
    """A text as the character data of an XML element: &, < and > as entities;
    the control characters XML 1.0 cannot hold as Excel's _xHHHH_ (and a text
    that already looks like one escaped, so that it reads back as written)."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if "_x" in text:
        text = _ESCAPE_LIKE.sub(r"_x005F\1", text)
    return _CONTROL.sub(lambda m: f"_x{ord(m.group()):04X}_", text)


_SEPARATOR = "\ue000"  # a private-use character: escape_text leaves it as it is


def _escape_all(texts: list[str]) -> list[str]:
    """[escape_text(t) for t in texts], escaped as one text (the replacements
    and patterns of escape_text never reach over a character they leave
    alone): a caisse's export has ~2 500 strings, and each escape_text call
    is several passes of its own. One by one when a text holds the separator."""
    joined = _SEPARATOR.join(texts)
    if joined.count(_SEPARATOR) != len(texts) - 1:
        return [escape_text(t) for t in texts]
    return escape_text(joined).split(_SEPARATOR) if texts else []


def escape_attribute(text: str) -> str:
    return escape_text(text).replace('"', "&quot;")


def number_text(value) -> str:
    """A number as XlsxWriter wrote it (16 significant digits)."""
    if type(value) is int and -10**15 < value < 10**15:
        return str(value)
    return f"{value:.16G}"


_EPOCH = datetime(1899, 12, 31)
_DAY_ONE = date(1900, 1, 1)


def serial(value: date) -> str:
    """A naive datetime or a date as an Excel serial number (1900 system), as
    XlsxWriter counted it: 1 January 1900 is day 1 (a datetime of that day
    day 0, Excel's time of day alone), and the 29 February 1900 that Excel
    counts but never was comes after day 59."""
    moment = value if isinstance(value, datetime) else datetime(value.year, value.month, value.day)
    delta = moment - _EPOCH
    number = delta.days + (delta.seconds + delta.microseconds / 1e6) / 86400
    if moment is value and value.date() == _DAY_ONE:
        number -= 1
    if number > 59:
        number += 1
    return f"{number:.16G}"


def cut(text: str) -> str:
    """``text`` within Excel's limit for a cell (MAX_TEXT UTF-16 units)."""
    if len(text) <= MAX_TEXT // 2:
        return text
    units = text.encode("utf-16-le", "surrogatepass")
    if len(units) <= 2 * MAX_TEXT:
        return text
    # A character cut in half (a surrogate pair) is left out.
    return units[:2 * MAX_TEXT].decode("utf-16-le", "ignore")


def char_width(width: float) -> str:
    """A column width in characters as Excel stores it (XlsxWriter's conversion:
    whole pixels of a 7-pixel digit, 5 pixels of padding)."""
    pixels = int(width * 7 + 0.5) + 5 if width >= 1 else int(width * 12 + 0.5)
    return f"{(pixels * 256 // 7) / 256:.16g}"


class SheetWriter:
    """The rows of one sheet, added one at a time as lists of formatted cells
    (``cells``), and the strings they share."""

    def __init__(self) -> None:
        self.strings: dict[str, int] = {}
        self.rows: list[str] = []
        self.last_col = -1  # the last column and row holding a cell
        self.last_row = 0
        self.string_count = 0

    def string(self, text: str) -> int:
        """The index of ``text`` among the shared strings (added if new)."""
        self.string_count += 1
        index = self.strings.get(text)
        if index is None:
            index = self.strings[text] = len(self.strings)
        return index

    def add_row(self, cells: list[str], last_col: int) -> None:
        """One row (its cells, already formatted by text_cell, number_cell...)."""
        self.rows.append(f'<row r="{len(self.rows) + 1}">{"".join(cells)}</row>' if cells
                         else f'<row r="{len(self.rows) + 1}"/>')
        if cells:
            self.last_row = len(self.rows)
        if last_col > self.last_col:
            self.last_col = last_col

    def text_cell(self, ref: str, text: str, style: int = 0) -> str:
        # string(cut(text)) without the two calls: ~7 500 text cells in a caisse's export.
        if len(text) > MAX_TEXT // 2:
            text = cut(text)
        self.string_count += 1
        index = self.strings.get(text)
        if index is None:
            index = self.strings[text] = len(self.strings)
        if style:
            return f'<c r="{ref}" s="{style}" t="s"><v>{index}</v></c>'
        return f'<c r="{ref}" t="s"><v>{index}</v></c>'

    def shared_strings(self) -> str:
        texts = list(self.strings)
        items = []
        for text, escaped in zip(texts, _escape_all(texts)):
            # A space at either end (Unicode spaces, as a regex's \s: not a search through the text).
            items.append(f'<si><t xml:space="preserve">{escaped}</t></si>' if text[:1].isspace() or text[-1:].isspace()
                         else f"<si><t>{escaped}</t></si>")
        return (_XML + f'<sst xmlns="{_MAIN}" count="{self.string_count}" uniqueCount="{len(self.strings)}">'
                + "".join(items) + "</sst>")


def package(sheet_name: str, sheet: SheetWriter, widths: list[float], *, header_columns: int) -> bytes:
    """The XLSX file: ``sheet``'s rows, the column ``widths`` (in characters),
    the first row frozen, and an auto-filter over the ``header_columns``
    first columns and every row (none without a header)."""
    n_rows = len(sheet.rows)
    dimension = f"A1:{column_letter(sheet.last_col)}{sheet.last_row}" if sheet.last_col >= 0 else "A1"
    views = ('<sheetViews><sheetView tabSelected="1" workbookViewId="0">'
             + '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
             '<selection pane="bottomLeft"/></sheetView></sheetViews>')
    spans = []  # adjacent columns of the same width in one <col>, as XlsxWriter wrote them
    for c, w in enumerate(widths):
        if spans and spans[-1][2] == w and spans[-1][1] == c - 1:
            spans[-1][1] = c
        else:
            spans.append([c, c, w])
    cols = "".join(f'<col min="{lo + 1}" max="{hi + 1}" width="{char_width(w)}" customWidth="1"/>'
                   for lo, hi, w in spans)
    filter_ref = None
    if header_columns:
        end = f"{column_letter(header_columns - 1)}{max(n_rows, 1)}"
        filter_ref = "A1" if end == "A1" else f"A1:{end}"
    worksheet = "".join((
        _XML, f'<worksheet xmlns="{_MAIN}" xmlns:r="{_REL}"><dimension ref="{dimension}"/>', views,
        '<sheetFormatPr defaultRowHeight="15"/>', f"<cols>{cols}</cols>" if cols else "",
        "<sheetData>", *sheet.rows, "</sheetData>",
        f'<autoFilter ref="{filter_ref}"/>' if filter_ref else "",
        '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/></worksheet>'))
    defined = ""
    if filter_ref:
        absolute = f"$A$1:${column_letter(header_columns - 1)}${max(n_rows, 1)}"
        quoted = "'" + sheet_name.replace("'", "''") + "'"
        defined = ('<definedNames><definedName name="_xlnm._FilterDatabase" localSheetId="0" hidden="1">'
                   f"{escape_text(quoted)}!{absolute}</definedName></definedNames>")
    workbook = (_XML + f'<workbook xmlns="{_MAIN}" xmlns:r="{_REL}">'
                '<fileVersion appName="xl" lastEdited="4" lowestEdited="4" rupBuild="4505"/>'
                '<workbookPr defaultThemeVersion="124226"/><bookViews><workbookView xWindow="240" yWindow="15" '
                'windowWidth="16095" windowHeight="9660"/></bookViews>'
                f'<sheets><sheet name="{escape_attribute(sheet_name)}" sheetId="1" r:id="rId1"/></sheets>'
                f'{defined}<calcPr calcId="124519" fullCalcOnLoad="1"/></workbook>')
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in (("[Content_Types].xml", CONTENT_TYPES), ("_rels/.rels", ROOT_RELS),
                           ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS), ("xl/workbook.xml", workbook),
                           ("xl/styles.xml", STYLES), ("xl/theme/theme1.xml", THEME_XML_2007),
                           ("xl/sharedStrings.xml", sheet.shared_strings()),
                           ("xl/worksheets/sheet1.xml", worksheet)):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, text.encode("utf-8"), compresslevel=1)
    return out.getvalue()
