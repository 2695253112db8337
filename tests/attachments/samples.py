"""Small real files made at run time: a PDF, a PNG, a JPEG, the EICAR test file."""
import io
import struct
import zlib

from werkzeug.datastructures import FileStorage


def pdf(extra: bytes = b"") -> bytes:
    """A one-page PDF with a correct xref table."""
    objects = [
        b"<</Type/Catalog/Pages 2 0 R>>",
        b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
        b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    out += extra
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def png() -> bytes:
    """A 1×1 grey PNG (signature, IHDR, IDAT, IEND with their CRCs)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00\x80"))
            + chunk(b"IEND", b""))


def jpeg() -> bytes:
    """An 8×8 mid-grey baseline JPEG: one DC coefficient of 0 and an EOB, with
    one-code Huffman tables (both codes are the single bit 0)."""
    def segment(marker, payload):
        return b"\xff" + marker + struct.pack(">H", len(payload) + 2) + payload

    dqt = b"\x00" + bytes([1] * 64)
    sof = b"\x08" + struct.pack(">HH", 8, 8) + b"\x01" + b"\x01\x11\x00"
    bits = b"\x01" + bytes(15)  # one code of length 1
    dht = b"\x00" + bits + b"\x00" + b"\x10" + bits + b"\x00"
    sos = b"\x01" + b"\x01\x00" + b"\x00\x3f\x00"
    return (b"\xff\xd8" + segment(b"\xdb", dqt) + segment(b"\xc0", sof) + segment(b"\xc4", dht)
            + segment(b"\xda", sos) + b"\x3f" + b"\xff\xd9")


def exe() -> bytes:
    """The start of a Windows executable (MZ header)."""
    return b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(200)


def eicar() -> bytes:
    """The standard 68-byte EICAR anti-virus test file, assembled here so that
    no scanner flags this source file."""
    return b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-" + b"TEST-FILE!$H+H*"


def upload(data: bytes, filename: str, content_type: str = "application/pdf", **kw) -> FileStorage:
    return FileStorage(stream=io.BytesIO(data), filename=filename, name="files", content_type=content_type, **kw)


def empty_input() -> FileStorage:
    """What a browser sends for a file input left empty."""
    return FileStorage(stream=io.BytesIO(b""), filename="", name="files", content_type="application/octet-stream")
