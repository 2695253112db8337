"""``flask ep ...`` commands."""
import click
from flask import Flask
from flask.cli import AppGroup

from ep_web.domain.errors import DomainError


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

    app.cli.add_command(ep)
