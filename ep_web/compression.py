"""HTML compressed with gzip, without opening the BREACH attack.

BREACH recovers a secret in a compressed page (our CSRF token, in every page)
by making the victim's browser send many requests that reflect a guess (the
history's ``?q=``) and watching the sizes. Those requests come from the
attacker's site: browsers mark them ``Sec-Fetch-Site: cross-site``. So a page
is compressed only when the browser says the request came from our own pages
(``same-origin``) or from the user (``none``: typed address, bookmark); a
request from anywhere else, or from a browser that does not say, gets the page
uncompressed. Our own navigations, forms and htmx requests are all same-origin,
so nearly every page view is compressed. Static files are precompressed apart
(ep_web.assets)."""
import gzip

from flask import Flask, request

COMPRESSED_TYPES = {"text/html", "text/plain", "application/json"}
MIN_SIZE = 1024
TRUSTED_SITES = {"same-origin", "none"}


def accepts_gzip(header: str) -> bool:
    for part in header.split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() in {"gzip", "*"}:
            return params.replace(" ", "") not in {"q=0", "q=0.0", "q=0.00", "q=0.000"}
    return False


def init_app(app: Flask) -> None:
    @app.after_request
    def compress(response):
        if response.direct_passthrough or response.is_streamed or response.mimetype not in COMPRESSED_TYPES:
            return response
        response.vary.add("Accept-Encoding")
        response.vary.add("Sec-Fetch-Site")
        if (response.status_code < 200 or response.status_code in {204, 304}
                or "Content-Encoding" in response.headers
                or request.headers.get("Sec-Fetch-Site") not in TRUSTED_SITES
                or not accepts_gzip(request.headers.get("Accept-Encoding", ""))):
            return response
        data = response.get_data()
        if len(data) < MIN_SIZE:
            return response
        response.set_data(gzip.compress(data, compresslevel=6, mtime=0))
        response.headers["Content-Encoding"] = "gzip"
        return response
