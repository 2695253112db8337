"""Helpers for the gestionnaire area tests."""
import pytest

from tests.factories import alpha

HTMX = {"HX-Request": "true"}


@pytest.fixture
def identity():
    """Form data for a new account of partner ``p`` (fictitious person)."""

    def _identity(p, n=1, **overrides):
        data = {
            "civilite": "Mme",
            "prenom": f"Camille{alpha(n)}",
            "nom": f"Essai{alpha(n)}",
            "fonction": "Conseillère en insertion",
            "telephone": "01 23 45 67 89",
            "email": f"camille.essai{n}@{p.domain_list[0]}",
        }
        data.update(overrides)
        return data

    return _identity
