"""Domain rules for caisses (SPEC §1, §2), tested without HTTP."""
import pytest
from sqlalchemy import select

from ep_web.domain.caisses import (
    create_caisse,
    create_caisse_with_referent,
    parse_departements,
    resend_referent_activation,
    update_caisse,
)
from ep_web.domain.errors import DomainError, NotAllowed
from ep_web.extensions import db
from ep_web.models import AccountStatus, AuditEvent, Caisse, Profile


def caisse_data(**kw):
    data = dict(
        name="CPAM de Test-sur-Mer",
        code="999",
        departements="74",
        address="1 rue de l'Exemple\n74000 Testville",
        referent_email="partenaires@cpam-test.example",
        autre_canal="Téléphone : 01 23 45 67 89",
        idle_inactivation_enabled=True,
    )
    data.update(kw)
    return data


def referent_data(**kw):
    data = dict(civilite="Mme", nom="Exemple", prenom="Camille", fonction="Référente partenariat",
                telephone="01 23 45 67 80", email="camille.exemple@cpam-test.example")
    data.update(kw)
    return data


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("74", "74"),
        ("1", "01"),
        ("01", "01"),
        ("95", "95"),
        ("2a, 2B", "2A,2B"),
        ("2A;2B", "2A,2B"),
        ("971", "971"),
        ("976", "976"),
        ("59 62", "59,62"),
        ("74, 74", "74"),
    ],
)
def test_valid_departements_are_normalised(app, raw, expected):
    assert parse_departements(raw) == expected


@pytest.mark.parametrize("raw", ["", " , ", "20", "00", "0", "96", "970", "977", "2C", "abc", "74,20", "100"])
def test_invalid_departements_are_refused_on_their_field(app, raw):
    with pytest.raises(DomainError) as exc:
        parse_departements(raw)
    assert exc.value.field == "departements"
    assert exc.value.message  # a French sentence for the user


def test_corsica_20_gets_a_hint(app):
    with pytest.raises(DomainError) as exc:
        parse_departements("20")
    assert "2A ou 2B" in exc.value.message


def test_create_caisse_normalises_and_audits(make):
    national = make.admin_national()
    caisse = create_caisse(national, caisse_data(code=" ab12 ", departements="2a,2b",
                                                 referent_email="Partenaires@CPAM-Test.example",
                                                 idle_inactivation_enabled=False))
    db.session.commit()
    assert caisse.code == "AB12"
    assert caisse.departements == "2A,2B"
    assert caisse.referent_email == "partenaires@cpam-test.example"
    assert caisse.idle_inactivation_enabled is False
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "caisse_created"))
    assert event.caisse_id == caisse.id and event.actor_id == national.id
    assert event.target_type == "caisse" and event.target_id == caisse.id


@pytest.mark.parametrize(
    "override, field",
    [
        ({"name": "  "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"code": ""}, "code"),
        ({"code": "74-1"}, "code"),
        ({"code": "12345678901"}, "code"),
        ({"departements": "20"}, "departements"),
        ({"referent_email": ""}, "referent_email"),
        ({"referent_email": "pas-une-adresse"}, "referent_email"),
        ({"referent_email": "a@b"}, "referent_email"),
        ({"autre_canal": "   "}, "autre_canal"),
    ],
)
def test_bad_input_names_its_field(make, override, field):
    national = make.admin_national()
    with pytest.raises(DomainError) as exc:
        create_caisse(national, caisse_data(**override))
    assert exc.value.field == field


def test_code_and_name_are_unique(make):
    national = make.admin_national()
    make.caisse(code="741", name="CPAM Existante")
    with pytest.raises(DomainError) as exc:
        create_caisse(national, caisse_data(code="741"))
    assert exc.value.field == "code"
    with pytest.raises(DomainError) as exc:
        create_caisse(national, caisse_data(name="cpam existante"))
    assert exc.value.field == "name"


def test_only_admin_national_creates_or_changes_caisses(make):
    w = make.world()
    for actor in (w.admin, w.agent, w.gestionnaire, w.technicien):
        with pytest.raises(NotAllowed):
            create_caisse(actor, caisse_data())
        with pytest.raises(NotAllowed):
            update_caisse(actor, w.caisse, caisse_data())
    inactive = make.admin_national(status=AccountStatus.INACTIVE)
    with pytest.raises(NotAllowed):
        create_caisse(inactive, caisse_data())
    assert db.session.scalar(select(Caisse).where(Caisse.code == "999")) is None


def test_create_with_referent_makes_a_pending_admin_caisse(make, outbox):
    national = make.admin_national()
    caisse, account = create_caisse_with_referent(national, caisse_data(), referent_data())
    db.session.commit()
    assert account.profile == Profile.ADMIN_CAISSE
    assert account.caisse_id == caisse.id
    assert account.status == AccountStatus.PENDING
    mails = outbox("camille.exemple@cpam-test.example")
    assert len(mails) == 1 and "/activation/" in mails[0].body_text


def test_update_caisse_keeps_its_own_code_and_records_changed_fields(make):
    national = make.admin_national()
    caisse = make.caisse(code="741", name="CPAM A")
    make.caisse(code="742", name="CPAM B")
    changed = update_caisse(national, caisse, caisse_data(code="741", name="CPAM A", departements="74"))
    assert "code" not in changed and "name" not in changed
    assert {"departements", "referent_email", "autre_canal", "address"} <= set(changed)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "caisse_changed"))
    assert event.details["fields"] == changed and event.caisse_id == caisse.id
    with pytest.raises(DomainError) as exc:
        update_caisse(national, caisse, caisse_data(code="742", name="CPAM A"))
    assert exc.value.field == "code"


def test_update_without_change_writes_no_event(make):
    national = make.admin_national()
    caisse = create_caisse(national, caisse_data())
    assert update_caisse(national, caisse, caisse_data()) == []
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "caisse_changed")) is None


def test_resend_activation_only_for_pending_referents(make, outbox):
    national = make.admin_national()
    caisse = make.caisse()
    pending = make.admin_caisse(caisse, status=AccountStatus.PENDING)
    active = make.admin_caisse(caisse)
    resend_referent_activation(national, pending)
    db.session.commit()
    assert len(outbox(pending.email)) == 1
    with pytest.raises(DomainError):
        resend_referent_activation(national, active)
    with pytest.raises(NotAllowed):
        resend_referent_activation(make.admin_caisse(caisse), pending)


# Property-based: any mix of valid numbers and separators parses back to them,
# and anything outside the list of départements is refused.
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ep_web.domain.caisses import VALID_DEPARTEMENTS  # noqa: E402

_valid = st.sampled_from(sorted(VALID_DEPARTEMENTS))
_sep = st.sampled_from([",", ", ", ";", " ", " ; "])


@settings(max_examples=200, deadline=None)
@given(st.lists(_valid, min_size=1, max_size=8), _sep, st.booleans())
def test_property_valid_lists_round_trip(codes, sep, lower):
    raw = sep.join(c.lower() if lower else c for c in codes)
    expected = list(dict.fromkeys(codes))
    assert parse_departements(raw).split(",") == expected


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789ABab", min_size=1, max_size=4))
def test_property_unknown_codes_are_refused(code):
    normalised = code.upper().zfill(2) if code.isdigit() and len(code) == 1 else code.upper()
    if normalised in VALID_DEPARTEMENTS:
        assert parse_departements(code) == normalised
    else:
        with pytest.raises(DomainError):
            parse_departements(code)


def test_requiring_a_second_factor_of_agents_gives_those_in_use_14_days(make, clock):
    from datetime import timedelta

    from ep_web.domain import second_factor

    national = make.admin_national()
    caisse = make.caisse(**{k: v for k, v in caisse_data(code="998", name="CPAM B").items()})
    in_use = make.agent(caisse)  # has logged in before
    new = make.agent(caisse, last_login_at=None)
    assert update_caisse(national, caisse, caisse_data(code="998", name="CPAM B",
                                                       agents_second_factor_required=True)) == [
        "agents_second_factor_required"]
    db.session.commit()
    db.session.refresh(in_use)
    db.session.refresh(new)
    assert caisse.agents_second_factor_required is True
    assert in_use.second_factor_grace_until == clock.now() + timedelta(days=14)
    assert new.second_factor_grace_until is None and second_factor.enrolment_due(new)  # enrols at its first login
    assert second_factor.required(in_use) and not second_factor.enrolment_due(in_use)
