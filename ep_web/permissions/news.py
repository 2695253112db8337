"""Who reads and who writes a caisse's news (SPEC §6, §8). The domain
(ep_web.domain.news) lists news with the same rules."""
from flask import abort
from flask_login import current_user

from ep_web.clock import now
from ep_web.domain.access import conventions_in_force
from ep_web.extensions import db
from ep_web.models import Account, News, Partenaire, Profile

PARTNER_PROFILES = (Profile.TECHNICIEN, Profile.GESTIONNAIRE)


def readable_caisse_ids(account: Account) -> list[int]:
    """The caisses whose news a partner user reads: those its structure holds a
    convention in force with (none for any other profile)."""
    if account.profile not in PARTNER_PROFILES or account.partenaire_id is None:
        return []
    return sorted({c.caisse_id for c in conventions_in_force(account.partenaire_id)})


def targets(news: News, partenaire: Partenaire) -> bool:
    """No target type means every partner of the caisse."""
    return not news.target_types or partenaire.type.value in news.target_types


def can_read_news(account: Account, news: News) -> bool:
    """SPEC §6, §8: a partner user reads a published news item of a caisse its
    structure holds a convention in force with, when it targets its type."""
    return (
        news.publish_at <= now()
        and news.caisse_id in readable_caisse_ids(account)
        and targets(news, account.partenaire)
    )


def can_manage_news(account: Account, news: News) -> bool:
    """SPEC §6: the caisse's referent writes its caisse's news, no other's."""
    return account.profile == Profile.ADMIN_CAISSE and account.caisse_id == news.caisse_id


def get_news_or_404(news_id: int) -> News:
    """A news item the partner user may read; any other does not exist for them."""
    news = db.session.get(News, news_id)
    if news is None or not can_read_news(current_user, news):
        abort(404)
    return news


def get_caisse_news_or_404(news_id: int) -> News:
    """One of the referent's caisse's news items; another caisse's is a 404."""
    news = db.session.get(News, news_id)
    if news is None or not can_manage_news(current_user, news):
        abort(404)
    return news
