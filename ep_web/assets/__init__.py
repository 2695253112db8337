"""The static files as browsers get them: built once by ``python -m ep_web.assets``
(called by ``scripts/dev.py install``) from ``static/`` into ``static/dist/``.

- every file under a name holding its content hash (``dsfr.min.3f2a….css``), so
  that it can be cached for a year (``immutable``) and a new version is a new URL;
  CSS ``url(…)`` references are rewritten to the hashed names;
- the DSFR icon sheet reduced to the icons the templates use (a few out of
  about 1 700), the fonts subset to the characters French pages use and
  declared in WOFF2 only;
- the SVG icons a stylesheet references written into it as ``data:`` URIs
  (``img-src data:`` in the CSP): the DSFR loads each icon lazily, the first
  time a page shows it, so a later page view showing a new icon would cost a
  request per icon; inlined, a page view after the first is the HTML alone;
- a gzip and a brotli copy next to each text file, which WhiteNoise serves to
  the browsers that accept them (no compression work per request);
- ``static/dist/manifest.json``: logical name → hashed path, read by
  ``static_url()`` in the templates.

Served by WhiteNoise in front of the app (ep_web/__init__.py), so every
deployment — ``flask run`` of the quick start included — gets the same headers.
"""
import gzip
import hashlib
import json
import os
import re
import shutil
import sys
from pathlib import Path

from flask import Flask, has_request_context, request, url_for

ROOT = Path(__file__).resolve().parent.parent.parent
STATIC = ROOT / "static"
DIST = STATIC / "dist"
MANIFEST = DIST / "manifest.json"
# Where the templates (and the Python that writes markup) may name an icon.
ICON_SOURCES = (ROOT / "templates", ROOT / "ep_web", STATIC / "js")
ICONS_CSS = "vendor/dsfr/utility/icons/icons.min.css"
# What the pages link to; everything a CSS file references follows.
ENTRIES = (
    "vendor/dsfr/dsfr.min.css",
    ICONS_CSS,
    "css/app.css",
    "vendor/dsfr/favicon/favicon.svg",
    "vendor/dsfr/dsfr.module.min.js",
    "vendor/dsfr/dsfr.nomodule.min.js",
    "vendor/htmx/htmx.min.js",
    "js/app.js",
)
COMPRESSIBLE = {".css", ".js", ".svg", ".json", ".txt", ".map"}
HASHED = re.compile(r"\.[0-9a-f]{12}\.[A-Za-z0-9]+$")
# Unicode ranges kept in the fonts: Basic Latin, Latin-1 (French accents, «»,
# nbsp), Œœ Ÿ, the general punctuation (’ – — … narrow nbsp), €, ™ and arrows.
FONT_UNICODES = "U+0020-007E,U+00A0-00FF,U+0152-0153,U+0178,U+02C6,U+02DC,U+2000-206F,U+20AC,U+2122,U+2190-2193"
_URL = re.compile(r"url\(\s*(['\"]?)([^'\")]+)\1\s*\)")


def used_icons(sources=ICON_SOURCES) -> set[str]:
    """Every ``fr-icon-…`` class named in the templates, the Python code and our JS."""
    found: set[str] = set()
    for folder in sources:
        for path in Path(folder).rglob("*"):
            if path.suffix in {".html", ".py", ".js", ".txt"} and "dist" not in path.parts:
                found.update(re.findall(r"fr-icon-[a-z0-9-]+[a-z0-9]", path.read_text(errors="ignore")))
    return found


def _rules(css: str):
    """Top-level (prelude, body) pairs of a minified stylesheet; bodies of
    at-rules (@media) are kept whole."""
    i, depth, start, out = 0, 0, 0, []
    prelude_end = None
    while i < len(css):
        ch = css[i]
        if ch == "{":
            if depth == 0:
                prelude_end = i
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                out.append((css[start:prelude_end], css[prelude_end + 1:i]))
                start = i + 1
        i += 1
    return out


def reduce_icon_sheet(css: str, keep: set[str]) -> str:
    """The icon sheet with only the rules of the icons in ``keep`` (and the
    rules that name no icon); inside @media blocks too."""
    out = []
    comment = re.match(r"\s*/\*.*?\*/", css, re.S)
    if comment:
        out.append(comment.group(0))
        css = css[comment.end():]
    for prelude, body in _rules(css):
        if prelude.lstrip().startswith("@"):
            inner = reduce_icon_sheet(body, keep)
            if inner.strip():
                out.append(f"{prelude}{{{inner}}}")
            continue
        # fr-fi-… are the DSFR's legacy aliases of the same icons: kept only if named.
        selectors = [s for s in prelude.split(",")
                     if all(name in keep for name in re.findall(r"fr-(?:icon|fi)-[a-z0-9-]+[a-z0-9]", s))]
        if selectors:
            out.append(f"{','.join(selectors)}{{{body}}}")
    return "".join(out)


def _woff2_only(css: str) -> str:
    """@font-face sources in WOFF2 only: every browser the DSFR supports reads it."""
    return re.sub(r",\s*url\([^)]*\.woff\)\s*format\([\"']woff[\"']\)", "", css)


def _subset_font(data: bytes) -> bytes:
    import logging
    from io import BytesIO

    from fontTools import subset
    from fontTools.ttLib import TTFont

    logging.getLogger("fontTools.subset").setLevel(logging.ERROR)  # "FFTM NOT subset": a timestamp table

    font = TTFont(BytesIO(data))
    options = subset.Options()
    options.flavor = "woff2"
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=subset.parse_unicodes(FONT_UNICODES))
    subsetter.subset(font)
    out = BytesIO()
    font.flavor = "woff2"
    font.save(out)
    return out.getvalue()


class Builder:
    def __init__(self, static: Path = STATIC, dist: Path = DIST, icons: set[str] | None = None):
        self.static, self.dist = static, dist
        self.icons = used_icons() if icons is None else icons
        self.manifest: dict[str, str] = {}

    def build(self) -> dict[str, str]:
        if self.dist.exists():
            shutil.rmtree(self.dist)
        self.dist.mkdir(parents=True)
        for name in ENTRIES:
            self.add(name)
        (self.dist / "manifest.json").write_text(json.dumps(self.manifest, indent=1, sort_keys=True))
        return self.manifest

    def add(self, name: str) -> str:
        """Write the file ``name`` (relative to static/) under its hashed name;
        returns that name, relative to static/."""
        if name in self.manifest:
            return self.manifest[name]
        source = self.static / name
        data = source.read_bytes()
        if source.suffix == ".css":
            data = self._css(name, data.decode()).encode()
        elif source.suffix == ".woff2":
            data = _subset_font(data)
        digest = hashlib.sha256(data).hexdigest()[:12]
        hashed = str(Path("dist") / Path(name).with_suffix(f".{digest}{source.suffix}"))
        target = self.static / hashed
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        if source.suffix in COMPRESSIBLE:
            _precompress(target, data)
        self.manifest[name] = hashed
        return hashed

    def _css(self, name: str, css: str) -> str:
        if name == ICONS_CSS:
            css = reduce_icon_sheet(css, self.icons)
        css = _woff2_only(css)
        folder = Path(name).parent

        def rewrite(match):
            ref = match.group(2)
            if ref.startswith(("data:", "#", "http:", "https:", "/")):
                return match.group(0)
            path, _, suffix = ref.partition("?")
            path, _, fragment = path.partition("#")
            target = os.path.normpath(folder / path)
            if not (self.static / target).is_file():
                raise SystemExit(f"{name} : {ref} est introuvable dans static/")
            if target.endswith(".svg") and not fragment:
                return f'url("{svg_data_uri((self.static / target).read_text())}")'
            hashed = self.add(target)
            # The hashed file sits in the same folder under dist/ as its source: relative paths hold.
            new = os.path.relpath(hashed, str(Path("dist") / folder))
            return f"url({new}{'?' + suffix if suffix else ''}{'#' + fragment if fragment else ''})"

        return _URL.sub(rewrite, css)


def svg_data_uri(svg: str) -> str:
    """An SVG as a ``data:`` URI for a double-quoted CSS ``url()``: URL-encoded
    only where needed (smaller than base64 and compresses better)."""
    from urllib.parse import quote

    svg = re.sub(r"<\?xml[^>]*\?>|<!--.*?-->", "", svg, flags=re.S)
    svg = " ".join(svg.split()).replace('"', "'")
    return "data:image/svg+xml;charset=utf-8," + quote(svg, safe=" '=:/;,.-_!*()@$&+?~")


def _precompress(target: Path, data: bytes) -> None:
    import brotli

    target.with_name(target.name + ".gz").write_bytes(gzip.compress(data, 9, mtime=0))
    target.with_name(target.name + ".br").write_bytes(brotli.compress(data, quality=11))


# ---------------------------------------------------------------- at run time

def init_app(app: Flask) -> None:
    """``static_url()`` for the templates, and WhiteNoise in front of the app for static/dist."""
    from whitenoise import WhiteNoise

    try:
        manifest = json.loads((Path(app.static_folder) / "dist" / "manifest.json").read_text())
    except (OSError, ValueError):
        manifest = {}
        app.logger.warning("static/dist/manifest.json absent : lancez `python -m ep_web.assets` "
                           "(fait par scripts/dev.py install) ; fichiers statiques servis sans cache.")
    app.extensions["ep_assets"] = manifest

    urls: dict = {}

    def static_url(name: str) -> str:
        # Remembered per mount point: the layout asks for the same seven files on every page.
        key = (name, request.script_root if has_request_context() else None)
        url = urls.get(key)
        if url is None:
            url = urls[key] = url_for("static", filename=manifest.get(name, name))
        return url

    app.add_template_global(static_url, "static_url")
    dist = Path(app.static_folder) / "dist"
    if dist.is_dir():
        # Every file there holds its hash in its name: cached for a year, never revalidated.
        app.wsgi_app = WhiteNoise(app.wsgi_app, root=str(dist), prefix="static/dist/",
                                  immutable_file_test=lambda path, url: bool(HASHED.search(url)),
                                  add_headers_function=_cache_headers, max_age=60)


def _cache_headers(headers, path: str, url: str) -> None:
    if HASHED.search(url):
        headers["Cache-Control"] = "public, max-age=31536000, immutable"


def fingerprint() -> str:
    """What the build depends on: this code, the vendored packages (their lock),
    our own static files and the icons the templates name."""
    h = hashlib.sha256(Path(__file__).read_bytes())
    lock = STATIC / "vendor" / ".lock"
    h.update(lock.read_bytes() if lock.exists() else b"")
    for folder in ("css", "js"):
        for path in sorted((STATIC / folder).rglob("*")):
            if path.is_file():
                h.update(str(path.relative_to(STATIC)).encode() + path.read_bytes())
    h.update(" ".join(sorted(used_icons())).encode())
    return h.hexdigest()


def main() -> None:
    stamp = STATIC / "vendor" / ".dist-stamp"  # outside dist/, which the build empties
    wanted = fingerprint()
    if "--force" not in sys.argv and stamp.exists() and stamp.read_text() == wanted and MANIFEST.exists():
        print("static/dist : à jour")
        return
    manifest = Builder().build()
    stamp.write_text(wanted)
    total = sum((STATIC / p).stat().st_size for p in manifest.values())
    print(f"static/dist : {len(manifest)} fichiers, {total / 1024:.0f} Ko (avant compression)")


if __name__ == "__main__":
    main()
