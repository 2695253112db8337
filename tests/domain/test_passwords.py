import pytest

from ep_web.domain.errors import DomainError
from ep_web.domain.passwords import check_password_rules, password_expired, set_password, verify_password
from ep_web.domain.sessions import load, open_session
from ep_web.extensions import db
from ep_web.models import Profile

LONG = "Rq7!vLm#T9wz-Bz8?kPo%N4xs-Wc5&hJt@M2qy-" * 4  # varied, so not refused as too easy


WEAK = "trop faible"


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("Court-1a!", WEAK),  # too short
        ("sansmajuscule-12!", WEAK),  # no upper case
        ("SANSMINUSCULE-12!", WEAK),  # no lower case
        ("SansChiffre-Ici!", WEAK),  # no digit
        ("SansSymbole12", WEAK),  # 13 chars without symbol: 14 needed
        ("Abcdefghij12", WEAK),  # 12 chars without symbol
        (LONG[:129], "128 caractères"),  # over 128
    ],
)
def test_weak_or_malformed_passwords_are_refused(app, password, reason):
    with pytest.raises(DomainError, match=reason) as exc:
        check_password_rules(password)
    assert exc.value.field == "password"


@pytest.mark.parametrize("password", [
    "Rq7!vLm#T9wz",  # 12 chars with a symbol
    "Xq7vLmT9rwZk2p",  # 14 chars, upper/lower/digit, no symbol
    "SansSymbole12a",  # the same rule, the refused 13-char one plus a letter
    "Glacier-Orage-Piano-47",
    LONG[:128],  # the longest accepted
])
def test_strong_passwords_pass(app, password):
    check_password_rules(password)


@pytest.mark.parametrize("password", ["Password123!", "Azerty123456!", "P@ssw0rd2024!"])
def test_common_passwords_are_refused(app, password):
    with pytest.raises(DomainError, match="trop courant"):
        check_password_rules(password)


def test_password_with_own_name_is_refused(app, make):
    caisse = make.caisse()
    p = make.partenaire(caisse)
    tech = make.technicien(p, nom="Lemarchand", prenom="Bertille")
    with pytest.raises(DomainError, match="trop courant"):
        check_password_rules("Lemarchand2026!", tech)


def test_last_five_passwords_cannot_be_reused(app, make):
    caisse = make.caisse()
    tech = make.technicien(make.partenaire(caisse))
    history = ["Rq7!vLm#T9wz", "Bz8?kPo%N4xs", "Wc5&hJt@M2qy", "Dn3$gFr*L8pv", "Ks6+eQw!Z7mb"]
    for pw in history:
        set_password(tech, pw)
    db.session.commit()
    with pytest.raises(DomainError, match="5 derniers"):
        set_password(tech, history[0])
    set_password(tech, "Yt9#uIo!P3lk")  # a sixth one pushes the first out
    db.session.commit()
    set_password(tech, history[0])
    assert verify_password(tech.password_hash, history[0])
    assert tech.password_hash.startswith("$argon2id$")


def test_password_expires_after_configured_days(app, make, clock):
    tech = make.technicien(make.partenaire(make.caisse()))
    assert not password_expired(tech)
    clock.advance(days=365)
    assert password_expired(tech)
    app.config["PASSWORD_MAX_AGE_DAYS"] = 0
    assert not password_expired(tech)


def test_set_password_ends_other_sessions(app, make):
    tech = make.technicien(make.partenaire(make.caisse()))
    here, elsewhere = open_session(tech), open_session(tech)
    kept = load(here)[1].id
    set_password(tech, "Rq7!vLm#T9wz", keep_session=kept)
    assert load(here) is not None and load(elsewhere) is None
    set_password(tech, "Zt8!wMn#K4qx")  # a reset link: no session is kept
    assert load(here) is None
    assert tech.profile == Profile.TECHNICIEN
