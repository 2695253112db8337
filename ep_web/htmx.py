"""One helper decides page or fragment. Every page answers `Vary: HX-Request`
(set once for all in ep_web/__init__.py)."""
from flask import make_response, render_template, request


def is_partial() -> bool:
    """An htmx request that wants a fragment: not boosted, not a history restore."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-Boosted") != "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def render_page_or_fragment(page: str, fragment: str, /, status: int = 200, **context):
    # page/fragment are positional-only: the context may hold a "page" (pagination).
    template = fragment if is_partial() else page
    return make_response(render_template(template, **context), status)


def render_fragments(*templates_and_contexts, status: int = 200):
    """Several fragments in one response (the main swap plus out-of-band ones)."""
    html = "".join(render_template(t, **ctx) for t, ctx in templates_and_contexts)
    return make_response(html, status)
