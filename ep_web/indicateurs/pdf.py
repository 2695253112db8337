"""The one-page PDF « bilan annuel » of a partner at a caisse (SPEC §7), for the
yearly review meeting of the convention (seed 003 art. 4), drawn with fpdf2.

The PDF core font (Helvetica) covers Latin-1, which holds French accents; the
few typographic signs outside it are replaced."""
from fpdf import FPDF

from ep_web.clock import now, to_paris
from ep_web.domain.indicators import FOLLOWED
from ep_web.models import SERVICE_LABELS, Service

_REPLACE = {"—": "-", "–": "-", "’": "'", "œ": "oe", "Œ": "OE", "…": "...", "\u202f": " ", "\u00a0": " "}
MAX_SESSIONS = 8


def latin1(text) -> str:
    text = str(text if text is not None else "—")
    for a, b in _REPLACE.items():
        text = text.replace(a, b)
    return text.encode("latin-1", "replace").decode("latin-1")


class _Bilan(FPDF):
    def footer(self):
        self.set_y(-12)
        self.set_font("Helvetica", size=8)
        self.set_text_color(110)
        self.cell(0, 6, latin1(f"Espace Partenaires - édité le {to_paris(now()):%d/%m/%Y à %H:%M} - "
                               "chiffres sans donnée personnelle"), align="C")


def bilan_pdf(caisse, partenaire, period, figures, sessions) -> bytes:
    pdf = _Bilan(format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_title(latin1(f"Bilan {period.label} - {partenaire.name}"))
    pdf.add_page()
    pdf.set_margins(18, 16, 18)
    pdf.set_xy(18, 16)
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 9, latin1("Bilan du partenariat"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=11)
    pdf.cell(0, 6, latin1(f"{partenaire.name} ({partenaire.type.label})"), new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 6, latin1(f"{caisse.name} - {period.label}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)

    def section(title):
        pdf.set_font("Helvetica", "B", 12)
        pdf.set_fill_color(227, 227, 253)
        pdf.cell(0, 7, latin1(title), fill=True, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=10)

    def line(label, value):
        pdf.cell(130, 6, latin1(label))
        pdf.cell(0, 6, latin1(value), align="R", new_x="LMARGIN", new_y="NEXT")

    section("Animation du partenariat (saisie par la caisse)")
    line("Sessions d'information", figures.sessions)
    line("Participants", figures.participants)
    line("Personnes formées", figures.staff_trained)
    pdf.ln(2)
    section("Signalements de difficultés d'accès aux droits et aux soins")
    line("Signalements envoyés", figures.signalements)
    line("Pris en charge sous 48 heures", figures.sla_label)
    for outcome, label in FOLLOWED:
        line(label, figures.outcome(outcome))
    pdf.ln(2)
    section("Demandes")
    line("Demandes envoyées", figures.created)
    line("Demandes clôturées", figures.closed)
    line("Délai médian jusqu'à la clôture", figures.median_close())
    c100 = figures.complements_per_100
    line("Compléments demandés pour 100 demandes", "—" if c100 is None else f"{c100:g}")
    pdf.ln(1)
    pdf.set_font("Helvetica", "B", 9)
    pdf.cell(110, 6, latin1("Service"))
    pdf.cell(30, 6, latin1("Envoyées"), align="R")
    pdf.cell(0, 6, latin1("Clôturées"), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=9)
    for s in Service:
        v = figures.by_service.get(s.value)
        pdf.cell(110, 5, latin1(SERVICE_LABELS[s][:70]))
        pdf.cell(30, 5, str(v["created"] if v else 0), align="R")
        pdf.cell(0, 5, str(v["closed"] if v else 0), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    section("Sessions d'information de la période")
    if not sessions:
        pdf.cell(0, 6, latin1("Aucune session saisie."), new_x="LMARGIN", new_y="NEXT")
    for s in sessions[:MAX_SESSIONS]:
        pdf.cell(0, 6, latin1(f"{s.held_on:%d/%m/%Y} - {s.topic[:80]} ({s.participants} participants, "
                              f"{s.staff_trained} formés)"), new_x="LMARGIN", new_y="NEXT")
    if len(sessions) > MAX_SESSIONS:
        pdf.cell(0, 6, latin1(f"... et {len(sessions) - MAX_SESSIONS} autres (export XLSX)."),
                 new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
