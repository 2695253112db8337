"""The floor the product is measured against: a bare Flask + Flask-SQLAlchemy
app that runs one indexed SELECT of 20 demande rows of a structure (newest
first, ix_demande_partenaire_created) and renders them with Jinja — no
session, no user, no CSRF, no layout.

    DATABASE_URL=postgresql://…/bench_5m .venv/bin/gunicorn -w 2 bench.floor:app
    curl 'http://127.0.0.1:8000/?p=13404'
"""
import os

from flask import Flask, render_template_string, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import text

app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
db = SQLAlchemy(app)

PAGE = """<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Plancher</title></head><body>
<table><tr><th>Référence</th><th>Transmise le</th><th>Service</th><th>Personne</th><th>Statut</th></tr>
{% for r in rows %}<tr><td>{{ r.reference }}</td><td>{{ r.created_at.strftime('%d/%m/%Y à %H:%M') }}</td>
<td>{{ r.service }}</td><td>{{ r.nom }} {{ r.prenom }}</td><td>{{ r.status }}</td></tr>{% endfor %}
</table></body></html>"""
QUERY = text("SELECT reference, created_at, service, nom, prenom, status FROM demande WHERE partenaire_id = :p "
             "ORDER BY created_at DESC, id DESC LIMIT 20")


@app.get("/")
def index():
    rows = db.session.execute(QUERY, {"p": request.args.get("p", 1, type=int)}).all()
    return render_template_string(PAGE, rows=rows)
