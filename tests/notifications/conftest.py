"""Fixtures of the notification tests: the caisse queue's world (two agents per
caisse, a demande factory through the real domain) plus a second technicien."""
import pytest

from tests.traitement.conftest import PERSON, new_demande, w  # noqa: F401  (fixtures reused)


@pytest.fixture
def nw(w, make):  # noqa: F811  (the fixture imported above, by name)
    w.colleague = make.technicien(w.partenaire)
    w.bystander = make.technicien(w.partenaire)
    return w


__all__ = ["PERSON"]
