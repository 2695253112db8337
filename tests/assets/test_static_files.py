"""Static files: hashed names cached for a year, precompressed, every
reference resolvable; the icon sheet reduced; HTML compressed only for
requests from our own pages (BREACH, ep_web.compression)."""
import gzip
import re

import brotli
import pytest

from ep_web.assets import HASHED, reduce_icon_sheet, used_icons
from ep_web.compression import accepts_gzip

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin", "Accept-Encoding": "gzip, deflate, br"}


def _page_assets(html: str) -> list[str]:
    return re.findall(r'(?:href|src)="(/static/[^"]+)"', html)


def _css_refs(client, css_url: str, css: str) -> list[str]:
    base = css_url.rsplit("/", 1)[0]
    out = []
    for ref in re.findall(r"url\(\s*['\"]?([^'\")]+)", css):
        if ref.startswith("data:"):
            continue
        parts = (base + "/" + ref.split("?")[0].split("#")[0]).split("/")
        stack = []
        for p in parts:
            if p == "..":
                stack.pop()
            elif p != ".":
                stack.append(p)
        out.append("/".join(stack))
    return out


def test_the_login_page_links_hashed_files_cached_for_a_year_and_all_resolvable(client):
    html = client.get("/connexion").get_data(as_text=True)
    urls = _page_assets(html)
    assert len(urls) >= 6
    seen = set()
    todo = list(urls)
    while todo:
        url = todo.pop()
        if url in seen:
            continue
        seen.add(url)
        assert url.startswith("/static/dist/") and HASHED.search(url), url
        resp = client.get(url)
        assert resp.status_code == 200, url
        assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert "Cookie" not in resp.headers.get("Vary", "")
        assert "Set-Cookie" not in resp.headers
        if url.endswith(".css"):
            todo.extend(_css_refs(client, url, resp.get_data(as_text=True)))
    # The stylesheets pulled in the fonts, hashed too; the icons are inside them (see below).
    assert any(u.endswith(".woff2") for u in seen)


def test_no_stylesheet_loads_an_icon_file_later(client):
    """The DSFR fetches an icon's SVG the first time a page shows it: every
    SVG a stylesheet names is written into it, so that a later page view
    showing another icon needs no request but the HTML's."""
    html = client.get("/connexion").get_data(as_text=True)
    sheets = [u for u in _page_assets(html) if u.endswith(".css")]
    assert any("dsfr.min" in u for u in sheets) and any("icons.min" in u for u in sheets)
    for url in sheets:
        css = client.get(url).get_data(as_text=True)
        assert [r for r in _css_refs(client, url, css) if not r.endswith(".woff2")] == [], url
        if "vendor/dsfr" in url:
            assert "data:image/svg+xml" in css, url


def test_precompressed_copies_are_served_to_browsers_that_accept_them(client):
    html = client.get("/connexion").get_data(as_text=True)
    css = next(u for u in _page_assets(html) if "dsfr.min" in u and u.endswith(".css"))
    plain = client.get(css, headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    br = client.get(css, headers={"Accept-Encoding": "gzip, br"})
    assert br.headers["Content-Encoding"] == "br"
    assert brotli.decompress(br.data) == plain.data
    gz = client.get(css, headers={"Accept-Encoding": "gzip"})
    assert gz.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(gz.data) == plain.data
    assert len(br.data) < len(plain.data) / 8
    assert "Accept-Encoding" in br.headers["Vary"]


def test_an_unknown_hashed_name_is_a_404(client):
    assert client.get("/static/dist/css/app.000000000000.css").status_code == 404


def test_the_icon_sheet_holds_the_icons_the_templates_use_and_no_other(client):
    html = client.get("/connexion").get_data(as_text=True)
    url = next(u for u in _page_assets(html) if "icons.min" in u)
    css = client.get(url).get_data(as_text=True)
    named = set(re.findall(r"fr-(?:icon|fi)-[a-z0-9-]+[a-z0-9]", css))
    wanted = used_icons()
    assert "fr-icon-add-line" in wanted
    assert named == wanted
    # Each icon's picture is in the sheet itself, not in a file fetched the first time a page shows it.
    rule = r"\.(fr-icon-[a-z0-9-]+[a-z0-9]):before[^{]*\{[^}]*mask-image:url\(\"data:image/svg\+xml"
    drawn = set(re.findall(rule, css))
    assert drawn == wanted
    assert len(css) < 40_000  # the DSFR's full sheet is 356 KB, and loads each icon as a file


def test_reduce_icon_sheet_keeps_the_used_selectors_inside_media_blocks_too():
    css = (".fr-icon-a-line:before,.fr-fi-b-line:before{mask:url(a.svg)}.fr-icon-b-line:before{mask:url(b.svg)}"
           "@media (min-width:36em){.fr-btn.fr-icon-a-line{x:1}.fr-btn.fr-icon-c-line{x:2}}.fr-other{y:1}")
    out = reduce_icon_sheet(css, {"fr-icon-a-line"})
    assert out == ".fr-icon-a-line:before{mask:url(a.svg)}@media (min-width:36em){.fr-btn.fr-icon-a-line{x:1}}" \
                  ".fr-other{y:1}"


@pytest.mark.parametrize("header, expected", [
    ("gzip, deflate, br", True), ("br;q=1.0, gzip;q=0.8", True), ("*", True), ("identity", False),
    ("gzip;q=0", False), ("", False), ("deflate", False),
])
def test_accepts_gzip(header, expected):
    assert accepts_gzip(header) is expected


def test_pages_are_gzipped_for_requests_from_our_own_pages(client):
    resp = client.get("/connexion", headers=SAME_ORIGIN)
    assert resp.headers["Content-Encoding"] == "gzip"
    assert "Sec-Fetch-Site" in resp.headers["Vary"] and "Accept-Encoding" in resp.headers["Vary"]
    html = gzip.decompress(resp.data).decode()
    assert "X-CSRFToken" in html and "</html>" in html
    typed = client.get("/connexion", headers={**SAME_ORIGIN, "Sec-Fetch-Site": "none"})
    assert typed.headers["Content-Encoding"] == "gzip"


@pytest.mark.parametrize("site", ["cross-site", "same-site", None])
def test_pages_are_not_compressed_for_requests_another_site_may_have_made(client, site):
    """BREACH: a page holding the CSRF token and a reflected guess is never
    compressed for a request that another site could have triggered."""
    headers = {"Accept-Encoding": "gzip, br"}
    if site:
        headers["Sec-Fetch-Site"] = site
    resp = client.get("/connexion?next=/demandes", headers=headers)
    assert "Content-Encoding" not in resp.headers
    assert "X-CSRFToken" in resp.get_data(as_text=True)


def test_no_compression_without_gzip_in_accept_encoding(client):
    resp = client.get("/connexion", headers={"Sec-Fetch-Site": "same-origin", "Accept-Encoding": "identity"})
    assert "Content-Encoding" not in resp.headers
