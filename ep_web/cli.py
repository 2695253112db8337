"""``flask ep ...`` commands."""
from collections.abc import Iterator

import click
from flask import Flask
from flask.cli import AppGroup

from ep_web.domain.errors import DomainError
from ep_web.domain.textguard import find_nirs


def register_cli(app: Flask) -> None:
    ep = AppGroup("ep", help="Espace Partenaires : administration.")

    @ep.command("seed-demo")
    @click.option("--password", default=None, help="Mot de passe commun des comptes de démonstration.")
    def seed_demo(password):
        """Load fictitious demo data (idempotent) and print the demo logins."""
        from ep_web.demo import DEMO_PASSWORD, seed

        logins = seed(password or DEMO_PASSWORD)
        click.echo("Comptes de démonstration (mot de passe : %s) :" % (password or DEMO_PASSWORD))
        for profile, login, who in logins:
            click.echo(f"  {profile:<15} {login:<10} {who}")
        click.echo("Double authentification des comptes NDEMO001, RDEMO001, GDEMO001 : le code du moment est "
                   "donné par `python3 scripts/dev.py totp LOGIN`.")

    @ep.command("totp")
    @click.argument("login")
    def totp(login):
        """Print the current second-factor code of a demo account (enrolled with
        the published demo secret); any other account is refused."""
        from sqlalchemy import select

        from ep_web.demo import DEMO_TOTP_SECRET
        from ep_web.domain.second_factor import current_code
        from ep_web.extensions import db
        from ep_web.models import Account

        account = db.session.scalar(select(Account).where(Account.login == login.strip().upper()))
        if account is None or account.totp_secret != DEMO_TOTP_SECRET:
            raise click.ClickException("Ce compte n'est pas un compte de démonstration avec double authentification : "
                                       "son code n'est affiché que par son application.")
        click.echo(current_code(DEMO_TOTP_SECRET))

    @ep.command("create-admin")
    @click.option("--civilite", type=click.Choice(["Mme", "M."]), prompt=True)
    @click.option("--nom", prompt=True)
    @click.option("--prenom", prompt=True)
    @click.option("--email", prompt=True)
    def create_admin(civilite, nom, prenom, email):
        """Create an admin_national account; its activation link is e-mailed."""
        from ep_web.domain.accounts import create_admin_national
        from ep_web.transaction import commit

        try:
            account = create_admin_national({"civilite": civilite, "nom": nom, "prenom": prenom, "email": email})
        except DomainError as exc:
            raise click.ClickException(exc.message) from None
        commit()
        click.echo(f"Compte admin_national créé : identifiant {account.login}. "
                   f"Le lien d'activation est envoyé à {email}.")

    @ep.command("run-jobs")
    def run_jobs():
        """Run every periodic job once (cron deployments, tests)."""
        from workers.periodic import run_all

        for name, result in run_all():
            click.echo(f"{name}: {result}")

    @ep.command("scan-nir")
    def scan_nir():
        """List the stored rows whose text holds a NIR (never the number
        itself); exit status 1 when there is any."""
        from ep_web.extensions import db

        rows = texts = 0
        for table, row_id, column, text in _stored_texts(db.session):
            texts += 1
            if find_nirs(text):
                rows += 1
                click.echo(f"{table}\t{row_id}\t{column}")
        if rows:
            click.echo(f"{rows} texte(s) contiennent un NIR (numéros non affichés) sur {texts} textes analysés. "
                       "Retirez-les (ou purgez les lignes) puis relancez la commande.", err=True)
            raise SystemExit(1)
        click.echo(f"Aucun NIR trouvé dans les {texts} textes analysés.", err=True)

    @ep.command("rescan")
    @click.option("--before", "scanned_before", default=None, metavar="AAAA-MM-JJ",
                  help="Seulement les fichiers jamais analysés ou analysés avant ce jour (heure de Paris).")
    @click.option("--pending", is_flag=True, help="Seulement les fichiers en attente d'analyse.")
    def rescan(scanned_before, pending):
        """Rescan stored files with clamd (after a signature update): every
        file, or those scanned before a date. A file now found infected is
        blocked and its uploader and caisse are told; exit status 1 if clamd
        is missing or failed, 2 if a virus was found."""
        from datetime import date, datetime, time

        from ep_web.clock import PARIS
        from ep_web.domain import filescan
        from ep_web.models import ScanStatus
        from ep_web.transaction import commit

        before = None
        if scanned_before:
            try:
                day = date.fromisoformat(scanned_before.strip())
            except ValueError:
                raise click.BadParameter("une date AAAA-MM-JJ est attendue", param_hint="--before") from None
            before = datetime.combine(day, time(0), tzinfo=PARIS)
        query = filescan.selection(statuses=[ScanStatus.EN_ATTENTE] if pending else None, scanned_before=before)
        report = filescan.scan_files(query, commit=commit)
        commit()
        click.echo(f"{report.scanned} fichier(s) analysé(s) : {report.clean} sain(s), "
                   f"{len(report.infected)} nouvellement infecté(s) (bloqués, déposants et caisses prévenus), "
                   f"{report.missing} absent(s) du disque.")
        if report.error:
            click.echo(f"Analyse interrompue : {report.error}. Relancez la commande quand clamd répond.", err=True)
            raise SystemExit(1)
        if report.infected:
            raise SystemExit(2)

    app.cli.add_command(ep)


def _scanned_columns():
    """Where typed text is stored: everything partner users type (demandes,
    their messages, tickets, gestionnaire requests, file names, the accounts
    gestionnaires fill in) and the other texts the NIR guard protects (news,
    caisse replies), plus the audit log that copies reasons typed by users.
    (model, text columns, JSON columns whose strings are scanned)."""
    from ep_web.models import (
        Account,
        Attachment,
        AuditEvent,
        BreachReport,
        Demande,
        DemandeMessage,
        GestionnaireRequest,
        News,
        Ticket,
        TicketMessage,
    )

    return [
        (Demande, ("nom", "prenom", "message"), ("details",)),
        (DemandeMessage, ("body",), ()),
        (Ticket, ("subject", "description", "page"), ()),
        (TicketMessage, ("body",), ()),
        (GestionnaireRequest, ("comment", "response"), ("payload",)),
        (Attachment, ("original_name",), ()),
        (Account, ("nom", "prenom", "fonction", "inactivation_reason"), ()),
        (News, ("title", "body_markdown"), ()),
        (BreachReport, ("description", "concerned", "qualification_comment", "cnil_reason"), ()),
        (AuditEvent, (), ("details",)),
    ]


def _json_strings(value, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, int) and not isinstance(value, bool):
        yield path, str(value)  # a number typed into a field may be stored as one
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _json_strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for k, item in enumerate(value):
            yield from _json_strings(item, f"{path}[{k}]")


def _stored_texts(session) -> Iterator[tuple[str, int, str, str]]:
    """(table, id, column, text) for every stored text, streamed by batches."""
    from sqlalchemy import select

    for model, columns, json_columns in _scanned_columns():
        names = columns + json_columns
        query = select(model.id, *(getattr(model, name) for name in names)).order_by(model.id)
        for row in session.execute(query.execution_options(yield_per=1000)):
            for name, value in zip(names, row[1:]):
                if value is None:
                    continue
                if name in json_columns:
                    for path, text in _json_strings(value, name):
                        yield model.__tablename__, row[0], path, text
                elif value:
                    yield model.__tablename__, row[0], name, value
