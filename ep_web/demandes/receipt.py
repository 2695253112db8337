"""The « accusé de dépôt » of a demande (SPEC §4), a one-page PDF the partner
downloads: reference, date, caisse, service, structure — nothing about the
person's health, no NIR (the guard never stored one), drawn with fpdf2 like
the bilan (ep_web/indicateurs/pdf.py)."""
from fpdf import FPDF

from ep_web.clock import now, to_paris
from ep_web.indicateurs.pdf import latin1
from ep_web.models import Demande, Service


def receipt_pdf(demande: Demande) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_compression(False)  # one page of text: its words stay searchable by any tool
    pdf.set_auto_page_break(False)
    pdf.set_title(latin1(f"Accusé de dépôt {demande.reference}"))
    pdf.add_page()
    pdf.set_margins(20, 20, 20)
    pdf.set_xy(20, 20)
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 10, latin1("Accusé de dépôt"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=11)
    pdf.cell(0, 7, latin1("Espace Partenaires de l'Assurance Maladie"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    rows = [
        ("Référence", demande.reference),
        ("Transmise le", f"{to_paris(demande.created_at):%d/%m/%Y à %H:%M}"),
        ("Caisse destinataire", demande.caisse.name),
        ("Service", Service(demande.service).label),
        ("Structure", demande.partenaire.name),
    ]
    for label, value in rows:
        pdf.set_font("Helvetica", "B", 11)
        pdf.cell(55, 8, latin1(label))
        pdf.set_font("Helvetica", size=11)
        pdf.multi_cell(0, 8, latin1(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font("Helvetica", size=10)
    pdf.multi_cell(0, 6, latin1(
        "La caisse a reçu cette demande par Espace Partenaires. Le suivi et les réponses se consultent dans le "
        "portail, avec la référence ci-dessus. Ce document ne contient aucune information sur la santé de la "
        "personne."), new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(-20)
    pdf.set_font("Helvetica", size=8)
    pdf.set_text_color(110)
    pdf.cell(0, 6, latin1(f"Édité le {to_paris(now()):%d/%m/%Y à %H:%M}"), align="C")
    return bytes(pdf.output())
