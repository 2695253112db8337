"""An id beyond what the database holds is a 404, never a 500 (SPEC §8)."""
import pytest


@pytest.mark.parametrize("path", ["/indicateurs", "/indicateurs/statistiques"])
def test_a_caisse_id_too_large_for_the_database_is_a_404(make, login, client, path):
    login(make.admin_national())
    resp = client.get(f"{path}?caisse=99999999999999999999")
    assert resp.status_code == 404


def test_url_slot_writes_what_url_for_writes(app):
    """The table's links are built by url_slot (url_for twice, then the value
    put in): the same addresses as url_for, whatever the other values hold."""
    from flask import url_for

    from ep_web.nav import url_slot

    hostile = {"annee": "2000000000", "du": "1000000000&x=1", "type": "é /?#", "page": "7", "tri": ""}
    with app.test_request_context("/indicateurs"):
        for endpoint, name, values in (("indicateurs.index", "page", hostile),
                                       ("indicateurs.index", "caisse", {"annee": "2026"}),
                                       ("indicateurs.show", "convention_id", dict(annee=None, du="2026-01-01")),
                                       ("indicateurs.show", "convention_id", {})):
            build = url_slot(endpoint, name, values)
            for value in (1, 42, 1_000_000_000, 2_147_483_647):
                assert build(value) == url_for(endpoint, **dict(values, **{name: value}))
