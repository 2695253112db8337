"""Fixtures of the partner's demandes tests."""
import pytest

from ep_web.models import Service


@pytest.fixture
def w(make):
    """A structure in convention with two caisses (74 and 73), every service enabled
    by the first; another structure and its technicien; an agent of each caisse."""
    w = type("W", (), {})()
    w.caisse = make.caisse(name="CPAM de Haute-Savoie fictive", departements="74")
    w.caisse73 = make.caisse(name="CPAM de Savoie fictive", departements="73")
    w.partenaire = make.partenaire(w.caisse, name="CCAS de Bourg-Essai")
    w.conv73 = make.convention(w.partenaire, w.caisse73, services=[Service.CONTACT])
    w.technicien = make.technicien(w.partenaire, nom="Durand", prenom="Alice")
    w.colleague = make.technicien(w.partenaire, nom="Bernard", prenom="Paul")
    w.other_partenaire = make.partenaire(w.caisse, name="Association Autre-Essai")
    w.other_technicien = make.technicien(w.other_partenaire)
    w.agent = make.agent(w.caisse)
    w.other_agent = make.agent(w.caisse73)
    w.gestionnaire = make.gestionnaire(w.partenaire)
    return w
