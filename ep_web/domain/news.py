"""News (actualités) of a caisse for its partners (SPEC §6).

- ``admin_caisse`` writes news for its own caisse: a title, a body in Markdown
  rendered to sanitised HTML at write time, a publication date, and optionally
  the partner types it targets (none = every partner).
- Partner users (technicien, gestionnaire) of a structure holding a convention
  in force with the caisse read the published ones (publish_at ≤ now) that
  target their structure's type; opening a news marks it read for that user.
- A partner user may subscribe to a digest e-mail of the news published since
  the previous digest, sent by the periodic job ``send_news_digests``.
"""
from datetime import datetime, timedelta

import nh3
from flask import current_app
from markdown_it import MarkdownIt
from sqlalchemy import func, literal, or_, select, update

from ep_web.clock import now, today
from ep_web.domain.access import in_force_filter
from ep_web.domain.errors import DomainError, NotAllowed
from ep_web.domain.textguard import check_texts
from ep_web.extensions import db
from ep_web.mail import queue_email
from ep_web.models import (
    Account,
    AccountStatus,
    Convention,
    News,
    NewsRead,
    Partenaire,
    PartenaireType,
    Profile,
)
from ep_web.permissions.news import PARTNER_PROFILES, can_read_news, readable_caisse_ids, targets

TITLE_MAX = 200
BODY_MAX = 20_000
# A digest at most once a week per user (override: NEWS_DIGEST_DAYS).
DIGEST_DAYS = 7

# ---------------------------------------------------------------- Markdown

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
    ["table", "strikethrough"]
)
_ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "h2", "h3", "h4", "h5", "h6",
    "table", "thead", "tbody", "tr", "th", "td",
}


def render_markdown(text: str) -> str:
    """Markdown → HTML that cannot run anything: raw HTML in the source is
    escaped by markdown-it (``html: False``), then nh3 keeps only plain text
    tags, ``http``/``https``/``mailto`` links (``javascript:`` and ``data:``
    dropped) and adds ``rel="noopener noreferrer"`` to every link. Headings are
    shifted so the highest is an <h2>: the news title is the page's only <h1>. Images
    become their text alternative (SPEC §6, §8)."""
    tokens = _md.parse(text or "")
    levels = [int(t.tag[1]) for t in tokens if t.type == "heading_open"]
    shift = 2 - min(levels) if levels else 0
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + shift, 6)}"
        # No images (the CSP would block remote ones anyway): keep their text alternative.
        for child in token.children or []:
            if child.type == "image":
                child.type, child.tag, child.attrs, child.children = "text", "", {}, None
    html = _md.renderer.render(tokens, _md.options, {})
    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        clean_content_tags={"script", "style"},
        attributes={"a": {"href", "title"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )


# ---------------------------------------------------------------- writing (admin_caisse)

def _require_admin_of(actor: Account, caisse_id: int) -> None:
    if actor.profile != Profile.ADMIN_CAISSE or actor.caisse_id != caisse_id:
        raise NotAllowed("Seul le référent partenariat de la caisse publie ses actualités.")


def _clean(title: str, body: str, publish_at: datetime | None, target_types) -> tuple[str, str, list[str]]:
    title = (title or "").strip()
    body = (body or "").strip()
    if not title:
        raise DomainError("Indiquez un titre.", "title")
    if len(title) > TITLE_MAX:
        raise DomainError(f"Le titre ne peut pas dépasser {TITLE_MAX} caractères.", "title")
    if not body:
        raise DomainError("Écrivez le texte de l'actualité.", "body")
    if len(body) > BODY_MAX:
        raise DomainError(f"Le texte ne peut pas dépasser {BODY_MAX} caractères.", "body")
    if publish_at is None:
        raise DomainError("Indiquez la date de publication.", "publish_at")
    types = []
    for value in target_types or []:
        if value not in PartenaireType._value2member_map_:
            raise DomainError(f"Type de structure inconnu : {value}", "target_types")
        if value not in types:
            types.append(value)
    # SPEC §8: no NIR anywhere in the portal's texts.
    check_texts({"title": title, "body": body})
    return title, body, types


def create_news(actor: Account, *, title: str, body: str, publish_at: datetime, target_types=()) -> News:
    """SPEC §6: the caisse's referent publishes a news item for the caisse's
    partners, now or at a later date, to all partners or some types."""
    _require_admin_of(actor, actor.caisse_id)
    title, body, types = _clean(title, body, publish_at, target_types)
    at = now()
    news = News(caisse_id=actor.caisse_id, author_id=actor.id, title=title, body_markdown=body,
                body_html=render_markdown(body), publish_at=publish_at, target_types=types,
                created_at=at, updated_at=at)
    db.session.add(news)
    db.session.flush()
    if publish_at <= at:
        _notify_published(news)
    return news


def _notify_published(news: News) -> int:
    """SPEC §6 « news published »: a line in the notification centre of every
    active partner user of the structures the news is for (in convention with
    the caisse, of the targeted types), in one INSERT … SELECT. The e-mail is
    the news digest the user subscribed to (SPEC §6), not one per news."""
    from ep_web.models import Notification, NotificationKind
    from ep_web.models.base import UTCDateTime

    query = (select(Account.id, literal(NotificationKind.NEWS.value), literal("news"),
                    literal(f"Actualité de la caisse : {news.title}"[:300]), literal(f"/actualites/{news.id}"),
                    literal(now(), UTCDateTime), literal(False))
             .join(Partenaire, Partenaire.id == Account.partenaire_id)
             .where(Account.status == AccountStatus.ACTIVE, Account.profile.in_(PARTNER_PROFILES),
                    Partenaire.suspended_at.is_(None),
                    select(Convention.id).where(Convention.partenaire_id == Account.partenaire_id,
                                                Convention.caisse_id == news.caisse_id,
                                                *in_force_filter(today())).exists()))
    if news.target_types:
        query = query.where(Partenaire.type.in_([PartenaireType(t) for t in news.target_types]))
    columns = ["account_id", "kind", "event", "text", "link", "created_at", "digest_pending"]
    return db.session.execute(Notification.__table__.insert().from_select(columns, query)).rowcount


def update_news(actor: Account, news: News, *, title: str, body: str, publish_at: datetime, target_types=()) -> None:
    """SPEC §6: the referent corrects one of the caisse's news items."""
    _require_admin_of(actor, news.caisse_id)
    title, body, types = _clean(title, body, publish_at, target_types)
    news.title = title
    news.body_markdown = body
    news.body_html = render_markdown(body)
    news.publish_at = publish_at
    news.target_types = types
    news.updated_at = now()
    db.session.flush()


def delete_news(actor: Account, news: News) -> None:
    """The referent withdraws a news item (its read marks go with it) (SPEC §6)."""
    _require_admin_of(actor, news.caisse_id)
    db.session.execute(NewsRead.__table__.delete().where(NewsRead.news_id == news.id))
    db.session.delete(news)
    db.session.flush()


def caisse_news(caisse_id: int) -> list[News]:
    """Every news item of the caisse, scheduled ones first, then newest first (SPEC §6)."""
    return list(db.session.scalars(
        select(News).where(News.caisse_id == caisse_id).order_by(News.publish_at.desc(), News.id.desc())
    ))


def read_counts(news_ids: list[int]) -> dict[int, int]:
    """SPEC §6: how many users read each news item, by id."""
    if not news_ids:
        return {}
    return dict(db.session.execute(
        select(NewsRead.news_id, func.count(NewsRead.id)).where(NewsRead.news_id.in_(news_ids))
        .group_by(NewsRead.news_id)
    ).all())


# ---------------------------------------------------------------- reading (partner users)

def news_for_partner(account: Account) -> list[tuple[News, bool]]:
    """The news a partner user may read, newest first, each with its read flag (SPEC §6)."""
    caisse_ids = readable_caisse_ids(account)
    if not caisse_ids:
        return []
    rows = db.session.execute(
        select(News, NewsRead.id)
        .outerjoin(NewsRead, (NewsRead.news_id == News.id) & (NewsRead.account_id == account.id))
        .where(News.caisse_id.in_(caisse_ids), News.publish_at <= now())
        .order_by(News.publish_at.desc(), News.id.desc())
    ).all()
    return [(news, read_id is not None) for news, read_id in rows if targets(news, account.partenaire)]


def mark_read(account: Account, news: News) -> bool:
    """Opening a news item marks it read for this user (once). Returns True
    when it was unread (SPEC §6)."""
    if not can_read_news(account, news):
        raise NotAllowed("Cette actualité n'est pas destinée à votre structure.")
    from ep_web.models import Notification

    # Its line in the notification centre is read too (SPEC §6).
    db.session.execute(update(Notification).where(
        Notification.account_id == account.id, Notification.link == f"/actualites/{news.id}",
        Notification.read_at.is_(None)).values(read_at=now()).execution_options(synchronize_session=False))
    exists = db.session.scalar(
        select(NewsRead.id).where(NewsRead.news_id == news.id, NewsRead.account_id == account.id)
    )
    if exists:
        return False
    # A concurrent first read of the same news would hit the unique constraint:
    # a savepoint keeps the request's transaction usable.
    try:
        with db.session.begin_nested():
            db.session.add(NewsRead(news_id=news.id, account_id=account.id, read_at=now()))
    except Exception:  # IntegrityError: already marked by the other request
        return False
    return True


def set_digest(account: Account, subscribed: bool) -> None:
    """SPEC §6: a partner user subscribes to (or leaves) the news digest. The
    first digest covers news published after the subscription."""
    if account.profile not in PARTNER_PROFILES:
        raise NotAllowed("Le résumé des actualités est réservé aux utilisateurs des structures partenaires.")
    if subscribed and not account.news_digest:
        account.news_digest_sent_at = now()
    account.news_digest = subscribed
    db.session.flush()


# ---------------------------------------------------------------- digest (periodic job)

def _digest_interval() -> timedelta:
    return timedelta(days=current_app.config.get("NEWS_DIGEST_DAYS", DIGEST_DAYS))


def send_news_digests() -> dict:
    """SPEC §6: e-mail each subscribed partner user the news published since
    their previous digest (at most one digest per interval). Set-based: one
    query gathers every (user, news) pair; each user is then claimed with a
    conditional UPDATE of ``news_digest_sent_at`` so that two concurrent runs,
    or a second run, never send the same digest twice. Flushes, never commits.
    Returns the counts for the job journal: digests queued."""
    at = now()
    interval = _digest_interval()
    rows = db.session.execute(
        select(Account, News, Partenaire.type)
        .join(Partenaire, Partenaire.id == Account.partenaire_id)
        .join(Convention, Convention.partenaire_id == Account.partenaire_id)
        .join(News, News.caisse_id == Convention.caisse_id)
        .where(
            *in_force_filter(today()),
            Account.news_digest.is_(True),
            Account.status == AccountStatus.ACTIVE,
            Account.profile.in_(PARTNER_PROFILES),
            Account.email != "",
            Partenaire.suspended_at.is_(None),
            or_(Account.news_digest_sent_at.is_(None), Account.news_digest_sent_at <= at - interval),
            News.publish_at <= at,
            News.publish_at > func.coalesce(Account.news_digest_sent_at, at - interval),
        )
        .order_by(Account.id, News.publish_at, News.id)
    ).all()
    per_account: dict[int, tuple[Account, list[News]]] = {}
    for account, news, ptype in rows:
        if news.target_types and PartenaireType(ptype).value not in news.target_types:
            continue
        _, items = per_account.setdefault(account.id, (account, []))
        if news not in items:
            items.append(news)
    sent = 0
    for account, items in per_account.values():
        claimed = db.session.execute(
            update(Account)
            .where(Account.id == account.id, Account.news_digest.is_(True),
                   Account.news_digest_sent_at.is_(None) if account.news_digest_sent_at is None
                   else Account.news_digest_sent_at == account.news_digest_sent_at)
            .values(news_digest_sent_at=at)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not claimed:
            continue
        account.news_digest_sent_at = at
        queue_email(account.email, "news_digest",
                    f"Espace Partenaires : {len(items)} nouvelle{'s' if len(items) > 1 else ''} actualité"
                    f"{'s' if len(items) > 1 else ''}",
                    recipient=account, items=items)
        for news in items:
            if news.digest_sent_at is None:
                news.digest_sent_at = at
        sent += 1
    db.session.flush()
    return {"digests": sent}
