"""ep_web.exports: the CSV / XLSX writers, without HTTP."""
import csv
import io
import zipfile
from datetime import date, datetime, timezone
from xml.etree import ElementTree

import openpyxl

from ep_web import exports

HEADERS = ["Nom", "Date", "Jour", "Nombre"]
ROWS = [
    ["Élodie Ñuñez; « test »", datetime(2026, 7, 1, 12, 30, tzinfo=timezone.utc), date(2026, 7, 14), 3],
    ['=HYPERLINK("http://exemple.invalid","clic")', None, None, 0],
    ["-2+3", None, None, None],
]


def test_csv_is_semicolon_separated_utf8_with_bom_and_defuses_formulas():
    raw = exports.to_csv(HEADERS, ROWS)
    assert raw.startswith("\ufeff".encode())
    text = raw.decode("utf-8-sig")
    assert "\r\n" in text
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0] == HEADERS
    assert rows[1] == ["Élodie Ñuñez; « test »", "01/07/2026 14:30", "14/07/2026", "3"]
    assert rows[2][0] == "'=HYPERLINK(\"http://exemple.invalid\",\"clic\")"
    assert rows[3][0] == "'-2+3"


def test_xlsx_has_a_bold_header_real_dates_widths_and_no_formula():
    wb = openpyxl.load_workbook(io.BytesIO(exports.to_xlsx(HEADERS, ROWS, "Essai: 1/2")))
    ws = wb.active
    assert ws.title == "Essai  1 2"
    assert [c.value for c in ws[1]] == HEADERS and all(c.font.bold for c in ws[1])
    assert ws["B2"].value == datetime(2026, 7, 1, 14, 30) and ws["B2"].number_format == "DD/MM/YYYY HH:MM"
    assert ws["C2"].value == datetime(2026, 7, 14) and ws["C2"].number_format == "DD/MM/YYYY"
    assert ws["D2"].value == 3
    assert ws["A3"].data_type == "s" and ws["A3"].value.startswith("=HYPERLINK")
    assert ws.column_dimensions["A"].width > ws.column_dimensions["D"].width >= 8
    assert ws.auto_filter.ref == "A1:D4"
    assert ws["A4"].data_type == "s" and ws["A4"].value == "-2+3"
    assert ws.freeze_panes == "A2"


def test_xlsx_writes_every_text_as_text_and_no_cell_for_nothing():
    rows = [["http://exemple.invalid/", "", "0612345678", True], ["@SUM(1)", None, "+33 6", 1.5]]
    ws = openpyxl.load_workbook(io.BytesIO(exports.to_xlsx(["A", "B", "C", "D"], rows, "'Titre'"))).active
    assert ws.title == "Titre"
    assert ws["A2"].value == "http://exemple.invalid/" and ws["A2"].hyperlink is None
    assert ws["C2"].value == "0612345678" and ws["C2"].data_type == "s"
    assert ws["D2"].value == "oui" and ws["D3"].value == 1.5
    assert ws["A3"].value == "@SUM(1)" and ws["A3"].data_type == "s" and ws["C3"].value == "+33 6"
    assert ws["B2"].value is None and ws["B3"].value is None
    assert ws.auto_filter.ref == "A1:D3"


def test_filename_is_ascii_and_dated(app):
    assert exports.filename("Habilitations — CCAS de Saint-Étienne", "csv") == \
        "habilitations-ccas-de-saint-etienne-2026-03-02.csv"


def test_csv_cells_are_those_of_text_cell_and_defused():
    """to_csv's fast path per type writes what _defused(text_cell(v)) writes."""
    values = [0, 7, -3, 10**20, True, False, None, "", "texte", "=1+1", "-x", "@a", "\tb", 1.5, -2.5,
              date(2026, 7, 14), datetime(2026, 7, 1, 12, 30, tzinfo=timezone.utc)]
    assert [exports._csv_cell(v) for v in values] == [exports._defused(exports.text_cell(v)) for v in values]
    assert exports._csv_cell(-3) == "'-3"


def _xlsx_parts(body: bytes) -> dict:
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def test_xlsx_texts_read_back_as_written_in_well_formed_parts():
    """ep_web.xlsx writes the XML itself: what XML must escape is escaped, the
    control characters it cannot hold are Excel's _xHHHH_, a text that looks
    like one reads back as written, and Excel's length limit is kept (in UTF-16
    units: an emoji counts two)."""
    texts = ["=1+1", "_x0041_", "a & <b> \"c\" 'd'", " lead", "trail ", "é😀", "l1\nl2", "x" * 40_000,
             "😀" * 20_000]
    body = exports.to_xlsx(["A & <B>", "x\x01y"], [[t] for t in texts], "A&B <x>")
    for part in _xlsx_parts(body).values():
        ElementTree.fromstring(part)  # raises on anything that is not well-formed XML
    wb = openpyxl.load_workbook(io.BytesIO(body))
    ws = wb.active
    assert ws.title == "A&B <x>"
    assert [c.value for c in ws[1]] == ["A & <B>", "x_x0001_y"] and all(c.font.bold for c in ws[1])
    read = [c.value for c in ws["A"][1:]]
    assert all(c.data_type == "s" for c in ws["A"][1:])
    assert read[:7] == texts[:7]
    assert read[7] == "x" * 32_767 and read[8] == "😀" * 16_383
    assert ws.auto_filter.ref == "A1:B10" and ws.freeze_panes == "A2"


def test_xlsx_numbers_and_dates_as_excel_reads_them():
    rows = [[0, -7, 10**15, 10**20, 1.5, -2.25, float("nan")],
            [date(1900, 2, 28), date(1900, 3, 1), date(2026, 7, 14), datetime(2026, 1, 1, 23, 30, tzinfo=timezone.utc)]]
    body = exports.to_xlsx(list("ABCDEFG"), rows)
    ws = openpyxl.load_workbook(io.BytesIO(body)).active
    assert [c.value for c in ws[2]] == [0, -7, 10**15, 1e20, 1.5, -2.25, "nan"]
    assert [c.data_type for c in ws[2]] == ["n"] * 6 + ["s"]
    assert [c.value for c in ws[3][:4]] == [datetime(1900, 2, 28), datetime(1900, 3, 1), datetime(2026, 7, 14),
                                            datetime(2026, 1, 2, 0, 30)]
    sheet = _xlsx_parts(body)["xl/worksheets/sheet1.xml"].decode()
    # Excel's serial numbers (its 29 February 1900 counted): 59, 61, 46217.
    assert '<c r="A3" s="3"><v>59</v></c><c r="B3" s="3"><v>61</v></c><c r="C3" s="3"><v>46217</v></c>' in sheet


def test_xlsx_shared_strings_escaped_as_one_text_or_one_by_one():
    """The shared strings are escaped joined by a private-use character
    (ep_web.xlsx._escape_all); a text holding that character is escaped one by
    one, and each reads back as written. A space at either end, Unicode ones
    too, is kept (xml:space="preserve"); a space inside is not marked."""
    for texts in (["a & b", "_x0041_", "\u2003em", "tab\t", "in side", "x\x02"],
                  ["a & b", "pri\ue000vate", "_x0041_", "\u2003em", "x\x02"]):
        body = exports.to_xlsx(["T"], [[t] for t in texts])
        ws = openpyxl.load_workbook(io.BytesIO(body)).active
        assert [c.value for c in ws["A"][1:]] == [t if t != "x\x02" else "x_x0002_" for t in texts]
        shared = _xlsx_parts(body)["xl/sharedStrings.xml"].decode()
        assert '<t xml:space="preserve">\u2003em</t>' in shared and "<si><t>in side</t></si>" in shared \
            or "in side" not in texts


def test_xlsx_widths_for_the_columns_holding_a_cell():
    """A row wider than the headers: a width for each column up to its last
    cell, none for a column that only ever holds None."""
    body = exports.to_xlsx(["A"], [["x", None, "wide text here", None], [None, None, None, None, None]])
    sheet = _xlsx_parts(body)["xl/worksheets/sheet1.xml"].decode()
    assert '<cols><col min="1" max="2" width="8.7109375" customWidth="1"/>' \
           '<col min="3" max="3" width="16.7109375" customWidth="1"/></cols>' in sheet
    assert '<dimension ref="A1:C2"/>' in sheet and '<row r="3"/>' in sheet
