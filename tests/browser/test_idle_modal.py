"""SPEC §8 in the browser (Debian Chromium): two minutes before the idle
timeout a DSFR modal offers « Rester connecté ». Both clocks are driven: the
served app's (a FrozenClock) and the page's (Playwright's fake timers), with a
short idle timeout set in the app's config.

- the modal opens before the timeout, is announced (a modal dialog with its
  name) and keyboard usable (focus inside, kept inside, Escape closes it);
- closing it (« Rester connecté », « Fermer » or Escape) extends the session:
  a request past the original timeout is still logged in;
- typing in a form counts as activity: the modal does not open when it would
  have, and the session outlives the original timeout;
- the header's bell, polled every minute, is no activity: without any action
  the session ends, the modal says so, and the bell does not send the page away.
The POST rescued as a draft after the timeout: tests/browser/test_drafts_journey.py."""
import re

import pytest
from playwright.sync_api import expect

from tests.plugins.browser import axe_check, log_in

pytestmark = pytest.mark.browser
IDLE_MINUTES = 5
KEEPALIVE = "/compte/session/prolonger"


def _set_up(page, live_server, login_as="technicien"):
    live_server.app.config["SESSION_IDLE_MINUTES"] = IDLE_MINUTES
    clock = live_server.freeze()
    page.clock.install(time=clock.now())
    with live_server.seed() as make:
        w = make.world()
        login = getattr(w, login_as).login
    log_in(page, login)
    return clock


def _wait(page, clock, seconds: int):
    """``seconds`` pass for the server and for the page (its timers fire)."""
    clock.advance(seconds=seconds)
    page.clock.run_for(seconds * 1000)


def _modal(page):
    return page.get_by_role("dialog", name="Votre session va expirer")


def _focus_in_modal(page) -> bool:
    return page.evaluate("() => document.getElementById('idle-modal').contains(document.activeElement)")


def _still_logged_in(page, path="/compte/"):
    page.goto(path)
    assert "/connexion" not in page.url, f"logged out: {page.url}"
    expect(page.get_by_role("button", name="Se déconnecter").first).to_be_attached()


def test_the_modal_is_announced_keyboard_usable_and_staying_extends_the_session(page, live_server):
    clock = _set_up(page, live_server)
    page.goto("/compte/")
    _wait(page, clock, (IDLE_MINUTES - 3) * 60)
    expect(_modal(page)).to_be_hidden()

    # Two minutes before the timeout (the page checks every few seconds).
    _wait(page, clock, 70)
    modal = _modal(page)
    expect(modal).to_be_visible()
    expect(modal).to_have_attribute("aria-modal", "true")
    expect(modal).to_contain_text("deux minutes")
    assert _focus_in_modal(page), "the focus stays outside the modal"
    for _ in range(4):  # Tab cycles inside the modal
        page.keyboard.press("Tab")
        assert _focus_in_modal(page), "Tab left the modal"
    axe_check(page)

    # Escape is an answer: the modal closes and the session is extended.
    with page.expect_response(lambda r: r.url.endswith(KEEPALIVE)) as answer:
        page.keyboard.press("Escape")
    assert answer.value.status == 204
    expect(modal).to_be_hidden()

    # The session outlives the timeout counted from the last page: the keep-alive counted.
    _wait(page, clock, 3 * 60)
    _still_logged_in(page)

    # « Rester connecté », reached and pressed with the keyboard.
    _wait(page, clock, (IDLE_MINUTES - 2) * 60 + 10)
    expect(modal).to_be_visible()
    stay = page.get_by_role("button", name="Rester connecté")
    for _ in range(6):
        if page.evaluate("() => document.activeElement && document.activeElement.id") == "idle-stay":
            break
        page.keyboard.press("Tab")
    expect(stay).to_be_focused()
    with page.expect_response(lambda r: r.url.endswith(KEEPALIVE)) as answer:
        page.keyboard.press("Enter")
    assert answer.value.status == 204
    expect(modal).to_be_hidden()
    _wait(page, clock, 3 * 60)  # past the timeout counted from the page's load
    _still_logged_in(page)


def test_typing_in_a_form_counts_as_activity(page, live_server):
    clock = _set_up(page, live_server)
    page.goto("/tickets/nouveau")
    objet = page.get_by_role("textbox", name=re.compile("^Objet"))
    _wait(page, clock, (IDLE_MINUTES - 3) * 60 - 10)
    # The answer, not only the request: the page counts the activity from the
    # server's answer, and the fake clock must not run past it before it arrives.
    with page.expect_response(lambda r: r.url.endswith(KEEPALIVE)):
        objet.press_sequentially("Le bouton")
    _wait(page, clock, 80)  # when the modal would have opened without the typing
    expect(_modal(page)).to_be_hidden()
    _wait(page, clock, 120)  # past the timeout counted from the page's load
    expect(objet).to_have_value("Le bouton")
    _still_logged_in(page)


def test_without_any_action_the_session_ends_and_the_modal_says_so(page, live_server):
    clock = _set_up(page, live_server)
    page.goto("/tickets/nouveau")
    page.get_by_role("textbox", name=re.compile("^Objet")).fill("Export impossible")
    # The bell keeps polling every minute: no activity for the server.
    with page.expect_response(lambda r: "/notifications/compteur" in r.url):
        _wait(page, clock, (IDLE_MINUTES - 2) * 60 + 10)
    expect(_modal(page)).to_be_visible()
    with page.expect_response(lambda r: r.headers.get("x-ep-session") == "ended"):
        _wait(page, clock, 3 * 60)
    expired = page.get_by_role("dialog", name="Votre session a expiré")
    expect(expired).to_be_visible()
    expect(page.get_by_role("link", name="Se reconnecter")).to_be_focused()
    expect(page.get_by_role("link", name="Se reconnecter")).to_have_attribute(
        "href", re.compile(r"/connexion\?next=%2Ftickets%2Fnouveau$"))
    # The page was not sent away: what was typed is still there.
    assert page.url.endswith("/tickets/nouveau")
    expect(page.get_by_role("textbox", name=re.compile("^Objet"))).to_have_value("Export impossible")
    axe_check(page)
    page.goto("/compte/")
    assert "/connexion" in page.url
