"""ep_web.xlsx writes the parts XlsxWriter wrote for the same sheet (it was
the writer before; it is still installed, for its theme): compared part by
part, canonical XML, on hostile values. What differs by design: no docProps
(optional parts: no author, no dates), no ``spans`` hint on the rows, and the
two date styles numbered the other way round (each cell still names its own
format, compared here)."""
import io
import re
import zipfile
from datetime import date, datetime, timezone
from xml.etree import ElementTree
from xml.etree.ElementTree import canonicalize

from ep_web import exports

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
HEADERS = ["Nom", "Date", "Créée le", "Nombre", "Taux", "Commentaire"]
ROWS = [
    ["=1+1", date(2026, 3, 1), datetime(2026, 3, 1, 10, 30, tzinfo=timezone.utc), 12, 0.5, "+33 6 00"],
    ["-2", date(1900, 1, 1), datetime(1900, 3, 1, 0, 0, tzinfo=timezone.utc), 10**20, -3.25, "@SUM(A1)"],
    ["a\x01b\x1fc", None, None, 0, 1e-7, "ligne 1\nligne 2\r\nligne 3"],
    ["_x0041_ texte", date(1900, 2, 28), None, -0, 2**53, "émoji 🎉 & <b>"],
    [" espace ", date(2099, 12, 31), datetime(2026, 10, 25, 1, 30, tzinfo=timezone.utc), 7, 3.0, "x" * 40_000],
    ["", "", "", None, None, None, "au-delà des en-têtes"],
    ['<tag attr="v">', date(1900, 3, 1), None, 1, 0.1, "'quote"],
]


def _xlsxwriter(headers, rows, sheet_title):
    """The writer as it was (ep_web.exports.to_xlsx before ep_web.xlsx)."""
    import xlsxwriter

    out = io.BytesIO()
    wb = xlsxwriter.Workbook(out, {"in_memory": True})
    ws = wb.add_worksheet(re.sub(r"[\[\]:*?/\\]", " ", sheet_title)[:31].strip("'") or "Export")
    stamp, day = wb.add_format({"num_format": "DD/MM/YYYY HH:MM"}), wb.add_format({"num_format": "DD/MM/YYYY"})
    header = wb.add_format({"bold": True, "valign": "top", "text_wrap": True})
    widths = [len(h) for h in headers]
    for col, text in enumerate(headers):
        ws.write_string(0, col, text, header)
    n = 0
    for n, row in enumerate(rows, start=1):
        for col, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, datetime):
                ws.write_datetime(n, col, exports.to_paris(value).replace(tzinfo=None), stamp)
                length = 16
            elif isinstance(value, date):
                ws.write_datetime(n, col, value, day)
                length = 10
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                ws.write_number(n, col, value)
                length = len(str(value))
            else:
                text = exports.text_cell(value)
                if not text:
                    continue
                ws.write_string(n, col, text)
                length = max(len(p) for p in text.splitlines()) if "\n" in text or "\r" in text else len(text)
            if col < len(widths):
                widths[col] = max(widths[col], length)
            else:
                widths.extend([0] * (col - len(widths)) + [length])
    for col, width in enumerate(widths):
        ws.set_column(col, col, min(max(width + 2, exports._MIN_WIDTH), exports._MAX_WIDTH))
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, max(n, 0), len(headers) - 1)
    wb.close()
    return out.getvalue()


def _cell_formats(parts) -> dict[str, str]:
    """Style number -> what it is (its number format, bold or not), from styles.xml."""
    styles = ElementTree.fromstring(parts["xl/styles.xml"])
    codes = {f.get("numFmtId"): f.get("formatCode") for f in styles.iter(f"{MAIN}numFmt")}
    fonts = [f.find(f"{MAIN}b") is not None for f in styles.find(f"{MAIN}fonts")]
    return {str(i): f"{codes.get(xf.get('numFmtId'), xf.get('numFmtId'))}|bold={fonts[int(xf.get('fontId'))]}"
            for i, xf in enumerate(styles.find(f"{MAIN}cellXfs"))}


def _canonical(parts, name: str) -> str:
    text = canonicalize(parts[name].decode("utf-8"), strip_text=True)
    if name == "xl/worksheets/sheet1.xml":
        formats = _cell_formats(parts)
        text = re.sub(r' spans="[^"]*"', "", text)
        text = re.sub(r' s="(\d+)"', lambda m: f' s="{formats[m.group(1)]}"', text)
    if name == "xl/styles.xml":  # the number formats' order aside (see _cell_formats)
        text = re.sub(r'<numFmt [^>]*></numFmt>', "", text)
        text = re.sub(r'numFmtId="16[45]"', 'numFmtId="date"', text)
    return text


def test_the_parts_are_those_xlsxwriter_wrote():
    ours = zipfile.ZipFile(io.BytesIO(exports.to_xlsx(HEADERS, ROWS, "Indicateurs: 2026/1")))
    theirs = zipfile.ZipFile(io.BytesIO(_xlsxwriter(HEADERS, ROWS, "Indicateurs: 2026/1")))
    optional = {"docProps/app.xml", "docProps/core.xml"}
    assert set(ours.namelist()) == set(theirs.namelist()) - optional
    mine = {name: ours.read(name) for name in ours.namelist()}
    reference = {name: theirs.read(name) for name in theirs.namelist()}
    for name in ("[Content_Types].xml", "_rels/.rels"):  # less the optional parts' entries
        reference[name] = re.sub(rb'<(Override|Relationship)[^>]*docProps/[^>]*/>', b"", reference[name])
    for name in sorted(mine):
        assert _canonical(mine, name) == _canonical(reference, name), name
