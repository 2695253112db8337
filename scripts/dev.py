#!/usr/bin/env python3
"""Set up and run Espace Partenaires, or run its tests, on a fresh machine.

    python3 scripts/dev.py up     # install, migrate, load demo data, serve on http://127.0.0.1:$PORT
    python3 scripts/dev.py test   # install, ruff, the suite on SQLite (and PostgreSQL at once if DATABASE_URL)
    python3 scripts/dev.py totp GDEMO001   # the second-factor code of the moment of a demo account

Needs only Python 3.11+ (and Node/npm for the DSFR and htmx assets).
Everything goes into .venv/ and static/vendor/ inside the checkout.
"""
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
PY = VENV / "bin" / "python"
STAMP = VENV / ".ep-installed"


def run(cmd, **kw):
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.run([str(c) for c in cmd], cwd=ROOT, check=True, **kw)


def install() -> None:
    if not PY.exists():
        run([sys.executable, "-m", "venv", VENV])
    lock = ROOT / "requirements.lock"
    wanted = lock.read_text() + (ROOT / "pyproject.toml").read_text()
    if not STAMP.exists() or STAMP.read_text() != wanted:
        run([PY, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", lock])
        run([PY, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps", "-e", "."])
        STAMP.write_text(wanted)
    assets()
    # Hashed, precompressed copies in static/dist/ (skipped when nothing changed).
    run([PY, "-m", "ep_web.assets"])


def assets() -> None:
    """DSFR, htmx and axe-core from the npm registry (pinned by package-lock.json),
    copied under static/vendor: no CDN at run time."""
    vendor = ROOT / "static" / "vendor"
    marker = vendor / ".lock"
    lock = (ROOT / "package-lock.json").read_text()
    if marker.exists() and marker.read_text() == lock:
        return
    if shutil.which("npm") is None:
        sys.exit("npm est introuvable : installez Node.js (avec npm) pour récupérer le DSFR et htmx.")
    # --ignore-scripts: the DSFR's preinstall hook wants a project generator we do not use.
    run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"])
    nm = ROOT / "node_modules"
    dsfr = nm / "@gouvfr" / "dsfr" / "dist"
    if vendor.exists():
        shutil.rmtree(vendor)
    (vendor / "dsfr" / "utility" / "icons").mkdir(parents=True)
    for name in ("dsfr.min.css", "dsfr.module.min.js", "dsfr.nomodule.min.js"):
        shutil.copy(dsfr / name, vendor / "dsfr" / name)
    for folder in ("fonts", "icons", "favicon"):
        shutil.copytree(dsfr / folder, vendor / "dsfr" / folder)
    shutil.copy(dsfr / "utility" / "icons" / "icons.min.css", vendor / "dsfr" / "utility" / "icons" / "icons.min.css")
    (vendor / "htmx").mkdir()
    shutil.copy(nm / "htmx.org" / "dist" / "htmx.min.js", vendor / "htmx" / "htmx.min.js")
    (vendor / "axe").mkdir()
    shutil.copy(nm / "axe-core" / "axe.min.js", vendor / "axe" / "axe.min.js")
    marker.write_text(lock)


def flask(*args, env=None):
    run([PY, "-m", "flask", "--app", "app", *args], env=env)


def _dev_env(port: str) -> dict:
    """The quick start's environment (``up`` and ``totp`` share it)."""
    env = dict(os.environ)
    # Plain http on localhost: cookies cannot carry Secure / __Host- here.
    env.setdefault("EP_INSECURE_COOKIES", "1")
    # The development secret key is accepted (production refuses to start with it).
    env.setdefault("EP_ENV", "development")
    env.setdefault("EP_BASE_URL", f"http://127.0.0.1:{port}")
    # Files stored unscanned (shown "non analysé") unless EP_CLAMD_SOCKET or
    # EP_CLAMD_ADDRESS points to a clamd; a warning says so at start.
    env.setdefault("EP_ALLOW_UNSCANNED", "1")
    return env


def totp(logins: list[str]) -> None:
    """The current second-factor code of a demo account (NDEMO001, RDEMO001, GDEMO001)."""
    if len(logins) != 1:
        sys.exit("Usage : python3 scripts/dev.py totp LOGIN   (par exemple GDEMO001)")
    env = _dev_env(os.environ.get("PORT", "5000"))
    sys.exit(subprocess.run([str(VENV / "bin" / "flask"), "--app", "app", "ep", "totp", logins[0]], cwd=ROOT,
                            env=env).returncode)


def up() -> None:
    install()
    port = os.environ.get("PORT", "5000")
    env = _dev_env(port)
    flask("db", "upgrade", env=env)
    flask("ep", "seed-demo", env=env)
    print(f"\nEspace Partenaires : http://127.0.0.1:{port}\n"
          "E-mails : écrits dans instance/outbox/ et affichés ici (pas de SMTP configuré).\n"
          "Double authentification (NDEMO001, RDEMO001, GDEMO001) : code du moment avec\n"
          "  python3 scripts/dev.py totp GDEMO001\n", flush=True)
    os.execve(str(PY), [str(PY), "-m", "flask", "--app", "app", "run", "--host", "127.0.0.1", "--port", port], env)


def _workers(extra: list[str], per_cpu: int = 1) -> list[str]:
    """pytest-xdist workers (``per_cpu`` per CPU; EP_TEST_WORKERS=N to choose, 0
    for none), unless the pytest arguments already say (-n, -p no:xdist)."""
    if any(a == "-n" or a.startswith(("-n", "--numprocesses")) or a == "no:xdist" for a in extra):
        return []
    wanted = os.environ.get("EP_TEST_WORKERS") or str(per_cpu * (os.cpu_count() or 1))
    return [] if wanted == "0" else ["-n", wanted]


def test(extra: list[str]) -> None:
    install()
    base = dict(os.environ)
    pg = base.pop("DATABASE_URL", "")
    base.pop("EP_TEST_PASS", None)
    # Compiled modules (and pytest's rewritten test modules) are kept under .venv/,
    # not beside the sources: every pytest worker and every subprocess a test starts
    # would otherwise compile the app and rewrite the tests again.
    base.pop("PYTHONDONTWRITEBYTECODE", None)
    base["PYTHONPYCACHEPREFIX"] = str(VENV / "pycache")
    print("\n=== Lint (ruff) ===", flush=True)
    if subprocess.run([str(VENV / "bin" / "ruff"), "check", "."], cwd=ROOT).returncode:
        sys.exit("ruff signale des erreurs (ci-dessus) : corrigez-les (`.venv/bin/ruff check --fix .` en règle "
                 "une partie) avant de lancer les tests.")
    pytest = [str(PY), "-m", "pytest", *_workers(extra), *extra]
    if not pg:
        print("\n=== Tests sur SQLite ===", flush=True)
        code = subprocess.run(pytest, cwd=ROOT, env=base).returncode
        print("\n(DATABASE_URL non défini : passe PostgreSQL non lancée. .ci/run la lance.)", flush=True)
        sys.exit(code)
    # Two passes, at the same time: the PostgreSQL pass waits a lot (Chromium,
    # servers it starts, processes riding out outages) and the SQLite pass fills
    # those waits. The PostgreSQL pass prints as it goes, the SQLite pass's output
    # follows it. A test that cannot depend on the database's dialect runs in one
    # pass only (EP_TEST_PASS; the rule is in tests/conftest.py).
    print(f"\n=== Tests sur PostgreSQL ({pg}) et sur SQLite (affichés ensuite), en même temps ===", flush=True)
    with tempfile.TemporaryFile() as sqlite_out:
        sqlite_pass = subprocess.Popen(pytest, cwd=ROOT, env={**base, "EP_TEST_PASS": "sqlite"},
                                       stdout=sqlite_out, stderr=subprocess.STDOUT)
        try:
            # Two workers per CPU for this pass: its tests wait more than they compute
            # (measured: the whole command used about one core of two with one per CPU).
            pg_pytest = [str(PY), "-m", "pytest", *_workers(extra, per_cpu=2), *extra]
            code = subprocess.run(pg_pytest, cwd=ROOT, env={**base, "DATABASE_URL": pg,
                                                         "EP_TEST_PASS": "postgresql"}).returncode
            code = sqlite_pass.wait() or code
        finally:
            if sqlite_pass.poll() is None:
                sqlite_pass.terminate()
                sqlite_pass.wait()
        print("\n=== Tests sur SQLite ===", flush=True)
        sqlite_out.seek(0)
        shutil.copyfileobj(sqlite_out, sys.stdout.buffer)
        sys.stdout.flush()
    sys.exit(code)


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in {"up", "test", "install", "totp"}:
        sys.exit(__doc__)
    {"up": lambda: up(), "install": lambda: install(), "test": lambda: test(sys.argv[2:]),
     "totp": lambda: totp(sys.argv[2:])}[sys.argv[1]]()
