"""Helpers for the gestionnaire area tests."""
import pytest

HTMX = {"HX-Request": "true"}


@pytest.fixture
def identity():
    """Form data for a new account of partner ``p`` (fictitious person)."""

    def _identity(p, n=1, **overrides):
        data = {
            "civilite": "Mme",
            "prenom": f"Camille{n}",
            "nom": f"Essai{n}",
            "fonction": "Conseillère en insertion",
            "telephone": "01 23 45 67 89",
            "email": f"camille.essai{n}@{p.domain_list[0]}",
        }
        data.update(overrides)
        return data

    return _identity
