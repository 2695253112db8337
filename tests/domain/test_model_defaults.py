"""Model column defaults read the injected clock (ep_web.clock), so that a
FrozenClock governs every timestamp a row gets without being told one."""
from ep_web.extensions import db
from ep_web.models import AuditEvent, Caisse
from ep_web.models.base import UTCDateTime


def _datetime_defaults():
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, UTCDateTime) and column.default is not None and column.default.is_callable:
                yield f"{table.name}.{column.name}", column.default


def test_every_datetime_default_follows_the_frozen_clock(app, clock):
    defaults = dict(_datetime_defaults())
    assert len(defaults) >= 20
    clock.advance(days=400, minutes=7)
    for name, default in defaults.items():
        assert default.arg(None) == clock.now(), name


def test_a_row_inserted_without_a_date_gets_the_clock_time(app, clock):
    clock.advance(days=-30)
    caisse = Caisse(name="CPAM de la Lozère", code="480", departements="48", referent_email="ref@cpam48.example")
    db.session.add(caisse)
    db.session.flush()
    db.session.add(AuditEvent(action="caisse_created", target_type="caisse", target_id=caisse.id))
    db.session.commit()
    db.session.expire_all()
    assert caisse.created_at == clock.now()
    assert db.session.scalar(db.select(AuditEvent.at)) == clock.now()
