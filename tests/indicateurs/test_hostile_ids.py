"""An id beyond what the database holds is a 404, never a 500 (SPEC §8)."""
import pytest


@pytest.mark.parametrize("path", ["/indicateurs", "/indicateurs/statistiques"])
def test_a_caisse_id_too_large_for_the_database_is_a_404(make, login, client, path):
    login(make.admin_national())
    resp = client.get(f"{path}?caisse=99999999999999999999")
    assert resp.status_code == 404
