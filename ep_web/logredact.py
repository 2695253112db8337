"""Nothing personal about an insured person in any log line (SPEC §8).

The history and the queue search by the person's name in the query string
(``GET /demandes?q=…``, ``/traitement?q=…``), and an expired session carries
that address in ``/connexion?next=…``; browsers repeat it in the Referer of
the next page. Server access logs (gunicorn, Werkzeug's development server)
write the request line and the Referer as they are.

One guard for the whole process: a log record factory that masks the values
of the parameters below wherever a query string appears in a record's
message, whoever logs it (the app, Werkzeug, gunicorn, RQ), installed once by
the app factory; ``deploy/gunicorn.conf.py`` also masks the access log's
atoms, so the access log holds even if the app is loaded after gunicorn logs.
"""
from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, quote, unquote, urlencode

# Query parameters that may carry a person's name or birth date: masked
# everywhere, whatever the route (a search for a structure loses little).
SENSITIVE = frozenset({"q", "nom", "prenom", "nom_naissance", "date_naissance", "naissance", "personne"})
# Parameters holding an address of this site, whose own query string is masked in turn.
NESTED = frozenset({"next"})
MASK = "***"

# A query string inside free text: after "?", up to a space, a quote or the end.
_QUERY_IN_TEXT = re.compile(r"\?([^\s\"'<>]*)")


def redact_query(query: str) -> str:
    """``q=Dupont&page=2`` → ``q=***&page=2``; unparsable parts are masked whole."""
    if not query:
        return query
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=False)
    except ValueError:
        return MASK
    if not pairs and query:
        return MASK if "=" not in query else query
    out = []
    for key, value in pairs:
        name = key.strip().lower()
        if name in SENSITIVE or name.endswith(("[nom]", "[prenom]")):
            out.append((key, MASK))
        elif name in NESTED:
            out.append((key, redact_url(value)))
        else:
            out.append((key, value))
    return urlencode(out, safe="/[]:,*", quote_via=quote)


def redact_url(url: str) -> str:
    """An address with its query string masked (``/demandes?q=***``)."""
    if not url or "?" not in url:
        return url
    path, _, query = url.partition("?")
    fragment = ""
    if "#" in query:
        query, _, fragment = query.partition("#")
        fragment = "#" + fragment
    return f"{path}?{redact_query(query)}{fragment}"


def redact_text(text: str) -> str:
    """Every query string inside a log line masked (request lines, Referers,
    ``next=`` addresses, URL-encoded or not)."""
    if "?" not in text and "%3f" not in text.lower():
        return text

    def one(match: re.Match) -> str:
        return "?" + redact_query(match.group(1))

    text = _QUERY_IN_TEXT.sub(one, text)
    # An address passed URL-encoded inside another (…%3Fq%3DDupont): decode it and mask it.
    if "%3f" in text.lower():
        text = re.sub(r"[^\s\"'<>?&]*%3[Ff][^\s\"'<>&]*",
                      lambda m: quote(redact_url(unquote(m.group(0))), safe="/:=&[]*"), text)
    return text


_previous_factory = None


def _redacting_factory(*args, **kwargs) -> logging.LogRecord:
    record = _previous_factory(*args, **kwargs)
    msg = record.msg
    rec_args = record.args
    suspicious = (isinstance(msg, str) and ("?" in msg or "%3" in msg)) or (
        rec_args and any(isinstance(a, str) and ("?" in a or "%3" in a)
                         for a in (rec_args.values() if isinstance(rec_args, dict) else rec_args)))
    if suspicious:
        try:
            message = record.getMessage()
        except Exception:  # a broken format: logging reports it later, as usual
            return record
        record.msg, record.args = redact_text(message), None
    return record


def install() -> None:
    """Mask query strings in every log record of this process (idempotent)."""
    global _previous_factory
    current = logging.getLogRecordFactory()
    if current is _redacting_factory:
        return
    _previous_factory = current
    logging.setLogRecordFactory(_redacting_factory)


def gunicorn_logger_class():
    """gunicorn's Logger with the access log's atoms masked (request line,
    query string, Referer, every header): named by ``logger_class`` in
    deploy/gunicorn.conf.py."""
    from gunicorn.glogging import Logger

    class RedactingLogger(Logger):
        def atoms(self, resp, req, environ, request_time):
            atoms = super().atoms(resp, req, environ, request_time)
            for key, value in atoms.items():
                if key == "q" and isinstance(value, str):
                    atoms[key] = redact_query(value)
                elif isinstance(value, str):
                    atoms[key] = redact_text(value)
            return atoms

    return RedactingLogger
