"""validate_uploads: type by content, size, count (SPEC §4). No antivirus here."""
import hashlib

import pytest

from ep_web.domain import attachments
from ep_web.domain.errors import DomainError
from tests.attachments import samples
from tests.attachments.samples import empty_input, upload


@pytest.mark.parametrize("make_file, kind", [(samples.pdf, "pdf"), (samples.png, "png"), (samples.jpeg, "jpeg")])
def test_sniff_recognises_the_three_formats(make_file, kind):
    assert attachments.sniff(make_file()[:8]) == kind


@pytest.mark.parametrize("head", [b"", b"%PDF", b"\xff\xd8", b"\x89PNG\r\n", b"MZ\x90\x00", b"GIF89a", b"hello",
                                  b" %PDF-1.4", b"<html>"])
def test_sniff_refuses_anything_else(head):
    assert attachments.sniff(head) is None


@pytest.mark.parametrize("make_file, name, content_type", [
    (samples.pdf, "compte-rendu.pdf", "application/pdf"),
    (samples.png, "capture.png", "image/png"),
    (samples.jpeg, "photo.jpg", "image/jpeg"),
])
def test_real_files_are_accepted(app, make_file, name, content_type):
    data = make_file()
    [prepared] = attachments.validate_uploads([upload(data, name, "application/octet-stream")], 0)
    assert (prepared.original_name, prepared.content_type, prepared.size) == (name, content_type, len(data))
    assert prepared.sha256 == hashlib.sha256(data).hexdigest()
    assert prepared.data.read() == data


@pytest.mark.parametrize("data, name", [
    (samples.exe(), "x.pdf"),
    (b"Bonjour, ceci est un simple texte.\n", "x.pdf"),
    (b"<html><script>alert(1)</script></html>", "facture.png"),
    (b"GIF89a" + bytes(40), "photo.jpeg"),
])
def test_a_renamed_file_is_refused_whatever_its_name_and_declared_type(app, data, name):
    with pytest.raises(DomainError) as exc:
        attachments.validate_uploads([upload(data, name, "application/pdf")], 0)
    assert exc.value.message == f"« {name} » : format non accepté (PDF, JPEG ou PNG uniquement)."
    assert exc.value.field == "files"


def test_the_type_comes_from_the_content_not_the_name(app):
    [prepared] = attachments.validate_uploads([upload(samples.png(), "scan.pdf", "application/pdf")], 0)
    assert prepared.content_type == "image/png"


def test_allowed_kinds_and_field_are_the_callers(app):
    with pytest.raises(DomainError) as exc:
        attachments.validate_uploads([upload(samples.pdf(), "page.pdf")], 0, allowed=("jpeg", "png"), field="capture")
    assert exc.value.message == "« page.pdf » : format non accepté (JPEG ou PNG uniquement)."
    assert exc.value.field == "capture"


def test_size_limit_is_counted_on_the_bytes_not_on_content_length(app):
    limit = app.config["MAX_ATTACHMENT_BYTES"]
    assert limit == 10 * 1024 * 1024
    exact = samples.pdf() + b"%" * (limit - len(samples.pdf()))
    [ok] = attachments.validate_uploads([upload(exact, "exact.pdf")], 0)
    assert ok.size == limit
    too_big = exact + b"%"
    with pytest.raises(DomainError) as exc:
        # The client claims a tiny size: ignored.
        attachments.validate_uploads([upload(too_big, "x.pdf", content_length=1000)], 0)
    assert exc.value.message == "« x.pdf » dépasse 10 Mo."


def test_a_smaller_configured_limit_is_reported(app):
    app.config["MAX_ATTACHMENT_BYTES"] = 2 * 1024 * 1024
    with pytest.raises(DomainError) as exc:
        attachments.validate_uploads([upload(samples.pdf() + bytes(2 * 1024 * 1024), "x.pdf")], 0)
    assert exc.value.message == "« x.pdf » dépasse 2 Mo."


def test_empty_inputs_are_skipped_and_an_empty_named_file_is_refused(app):
    assert attachments.validate_uploads([empty_input(), None, empty_input()], 5) == []
    with pytest.raises(DomainError) as exc:
        attachments.validate_uploads([upload(b"", "vide.pdf")], 0)
    assert exc.value.message == "« vide.pdf » est vide."


def test_five_files_in_all(app):
    five = [upload(samples.pdf(), f"f{i}.pdf") for i in range(5)]
    assert len(attachments.validate_uploads(five + [empty_input()], 0)) == 5
    with pytest.raises(DomainError) as exc:
        attachments.validate_uploads([upload(samples.pdf(), f"f{i}.pdf") for i in range(6)], 0)
    assert exc.value.message == "Vous pouvez joindre 5 fichiers au maximum ; vous en avez choisi 6."
    assert len(attachments.validate_uploads([upload(samples.pdf(), f"f{i}.pdf") for i in range(2)], 3)) == 2
    with pytest.raises(DomainError) as exc:
        attachments.validate_uploads([upload(samples.pdf(), f"f{i}.pdf") for i in range(3)], 3)
    assert exc.value.message == ("Vous pouvez joindre 5 fichiers au maximum : 3 sont déjà joints, "
                                 "vous pouvez en ajouter 2 (vous en avez choisi 3).")
    with pytest.raises(DomainError) as exc:
        attachments.validate_uploads([upload(samples.pdf(), "f.pdf")], 5)
    assert exc.value.message == "5 fichiers sont déjà joints : c'est le maximum (5), vous ne pouvez plus en ajouter."


def test_every_refused_file_is_named_with_its_reason(app):
    files = [upload(samples.pdf(), "bon.pdf"), upload(samples.exe(), "photo.heic"),
             upload(samples.pdf() + bytes(10 * 1024 * 1024), "gros.pdf")]
    with pytest.raises(DomainError) as exc:
        attachments.validate_uploads(files, 0)
    assert exc.value.message == ("« photo.heic » : format non accepté (PDF, JPEG ou PNG uniquement). "
                                 "« gros.pdf » dépasse 10 Mo.")
    assert "bon.pdf" not in exc.value.message


def test_nothing_is_written_to_the_upload_dir_by_validation(app, uploads):
    attachments.validate_uploads([upload(samples.pdf(), "a.pdf")], 0)
    assert not uploads.exists() or list(uploads.iterdir()) == []


@pytest.mark.parametrize("raw, clean", [
    ("C:\\Users\\agent\\Documents\\relevé.pdf", "relevé.pdf"),
    ("../../etc/passwd", "passwd"),
    ("photo\u202efdp.exe", "photofdp.exe"),
    ("a\x00b\x07c\n.pdf", "abc.pdf"),
    ("  avis   d'imposition .pdf  ", "avis d'imposition .pdf"),
    ("", "fichier"),
    ("...", "fichier"),
    ("e\u0301te\u0301.png", "été.png"),
])
def test_original_names_are_cleaned(raw, clean):
    assert attachments.clean_name(raw) == clean


def test_long_names_keep_their_extension():
    name = attachments.clean_name("r" * 300 + ".pdf")
    assert len(name) == 255 and name.endswith("r.pdf")
    assert len(attachments.clean_name("x" * 300)) == 255
