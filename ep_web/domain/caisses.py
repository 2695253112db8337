"""Caisses and their referents, managed by the national administration (SPEC §1, §2)."""
import re

from sqlalchemy import func, select

from ep_web.clock import now, today
from ep_web.domain import audit, second_factor
from ep_web.domain.access import in_force_filter
from ep_web.domain.accounts import create_caisse_account, normalize_email, resend_activation
from ep_web.domain.errors import DomainError, NotAllowed
from ep_web.extensions import db
from ep_web.models import Account, AccountStatus, Caisse, Convention, Profile

CAISSE_FIELDS = ("name", "code", "departements", "address", "referent_email", "dpo_email", "autre_canal",
                 "idle_inactivation_enabled", "agents_second_factor_required")

# Metropolitan départements 01-95 (20 split into 2A/2B since 1976) and the
# overseas ones 971-976.
VALID_DEPARTEMENTS = frozenset(
    [f"{n:02d}" for n in range(1, 96) if n != 20] + ["2A", "2B"] + [str(n) for n in range(971, 977)]
)
_CODE_RE = re.compile(r"^[A-Z0-9]{1,10}$")


def _require_national(actor: Account | None) -> None:
    if actor is None or actor.profile != Profile.ADMIN_NATIONAL or actor.status != AccountStatus.ACTIVE:
        raise NotAllowed("Action réservée à l'administration nationale.")


def parse_departements(raw: str) -> str:
    """SPEC §2: the département(s) a caisse covers, normalised to "74" or "2A,2B".
    Accepts commas, semicolons or spaces between numbers, and "1" for "01"."""
    parts = [p.strip().upper() for p in re.split(r"[,;\s]+", raw or "") if p.strip()]
    if not parts:
        raise DomainError("Indiquez le ou les départements couverts. Exemples : 74 ; 2A, 2B ; 971", "departements")
    out: list[str] = []
    for part in parts:
        code = part.zfill(2) if part.isdigit() and len(part) == 1 else part
        if code not in VALID_DEPARTEMENTS:
            hint = " (la Corse est 2A ou 2B)" if code == "20" else ""
            raise DomainError(
                f"Département inconnu : {part}{hint}. Indiquez des numéros comme 74, 2A, 2B ou 971, "
                "séparés par des virgules.",
                "departements",
            )
        if code not in out:
            out.append(code)
    joined = ",".join(out)
    if len(joined) > 100:
        raise DomainError("Trop de départements pour une caisse.", "departements")
    return joined


def clean_dpo_email(raw: str | None) -> str:
    """SPEC §7: the DPO mailbox told of a suspected data breach; optional (the
    referent mailbox is told when empty), a valid address when given."""
    raw = (raw or "").strip()
    return normalize_email(raw, "dpo_email") if raw else ""


def set_dpo_email(actor: Account, caisse: Caisse, raw: str | None) -> bool:
    """SPEC §7: national or the caisse's own admin_caisse sets the DPO
    mailbox; audited as a caisse change. True when it changed."""
    if not (actor.profile == Profile.ADMIN_NATIONAL
            or (actor.profile == Profile.ADMIN_CAISSE and actor.caisse_id == caisse.id)):
        raise NotAllowed("Seuls le référent de la caisse et l'administration nationale modifient cette adresse.")
    value = clean_dpo_email(raw)
    if value == caisse.dpo_email:
        return False
    caisse.dpo_email = value
    audit.record("caisse_changed", actor, target=caisse, caisse_id=caisse.id, fields=["dpo_email"])
    db.session.flush()
    return True


def clean_caisse(data: dict, *, exclude_id: int | None = None) -> dict:
    """Check the fields of a caisse (SPEC §2): name, unique code, département(s),
    address, referent mailbox (a valid address), the "autre canal" used when the
    portal is down [3.2], the idle-inactivation setting and whether its agents
    must use a second factor (SPEC §3)."""
    out = {
        "name": " ".join((data.get("name") or "").split()),
        "code": (data.get("code") or "").strip().upper(),
        "address": (data.get("address") or "").strip(),
        "autre_canal": (data.get("autre_canal") or "").strip(),
        "idle_inactivation_enabled": bool(data.get("idle_inactivation_enabled")),
        "agents_second_factor_required": bool(data.get("agents_second_factor_required")),
    }
    if not out["name"]:
        raise DomainError("Indiquez le nom de la caisse. Exemple : CPAM de la Haute-Savoie", "name")
    if len(out["name"]) > 200:
        raise DomainError("200 caractères au plus.", "name")
    if not out["code"]:
        raise DomainError("Indiquez le code de la caisse.", "code")
    if not _CODE_RE.match(out["code"]):
        raise DomainError("Le code ne contient que des chiffres et des lettres, 10 au plus. Exemple : 741", "code")
    out["departements"] = parse_departements(data.get("departements") or "")
    if len(out["address"]) > 1000:
        raise DomainError("1 000 caractères au plus.", "address")
    out["referent_email"] = normalize_email(data.get("referent_email") or "", "referent_email")
    out["dpo_email"] = clean_dpo_email(data.get("dpo_email"))
    if not out["autre_canal"]:
        raise DomainError(
            "Indiquez comment joindre la caisse quand le portail est indisponible (téléphone, adresse, accueil).",
            "autre_canal",
        )
    if len(out["autre_canal"]) > 2000:
        raise DomainError("2 000 caractères au plus.", "autre_canal")

    others = select(Caisse.id)
    if exclude_id is not None:
        others = others.where(Caisse.id != exclude_id)
    if db.session.scalar(others.where(func.upper(Caisse.code) == out["code"]).limit(1)):
        raise DomainError(f"Le code {out['code']} est déjà celui d'une autre caisse.", "code")
    if db.session.scalar(others.where(func.lower(Caisse.name) == out["name"].lower()).limit(1)):
        raise DomainError("Une autre caisse porte déjà ce nom.", "name")
    return out


def create_caisse(actor: Account, data: dict) -> Caisse:
    """SPEC §1: only the national administration creates caisses (fields of §2)."""
    _require_national(actor)
    values = clean_caisse(data)
    caisse = Caisse(**values, created_at=now())
    db.session.add(caisse)
    db.session.flush()
    audit.record("caisse_created", actor, target=caisse, caisse_id=caisse.id, code=caisse.code, name=caisse.name)
    return caisse


def create_caisse_with_referent(actor: Account, data: dict, referent: dict) -> tuple[Caisse, Account]:
    """SPEC §1: the national administration creates a caisse and its first
    admin_caisse (référent partenariat), who gets the activation e-mail (§3)."""
    caisse = create_caisse(actor, data)
    account = create_caisse_account(actor, caisse, Profile.ADMIN_CAISSE, referent)
    return caisse, account


def update_caisse(actor: Account, caisse: Caisse, data: dict) -> list[str]:
    """SPEC §1, §2: only the national administration changes a caisse; the code
    stays unique. Returns the changed fields."""
    _require_national(actor)
    values = clean_caisse(data, exclude_id=caisse.id)
    changed = [k for k in CAISSE_FIELDS if getattr(caisse, k) != values[k]]
    for k in changed:
        if k == "agents_second_factor_required":
            second_factor.set_agents_required(caisse, values[k])  # agents in use get their grace
        else:
            setattr(caisse, k, values[k])
    db.session.flush()
    if changed:
        audit.record("caisse_changed", actor, target=caisse, caisse_id=caisse.id, fields=changed)
    return changed


def resend_referent_activation(actor: Account, account: Account) -> None:
    """SPEC §3: a referent who has not activated the account yet can get a new
    single-use link (the earlier ones stop working). Only for accounts still
    awaiting activation: an active account uses « mot de passe oublié »."""
    _require_national(actor)
    if account.profile != Profile.ADMIN_CAISSE:
        raise NotAllowed("Seuls les comptes des référents de caisse sont gérés ici.")
    if account.status != AccountStatus.PENDING:
        raise DomainError("Ce compte n'attend plus d'activation : aucun lien n'est renvoyé.")
    resend_activation(actor, account)


# ---------------------------------------------------------------- what national support reads

def caisses_by_name() -> list[Caisse]:
    """Every caisse, by name: national's list (SPEC §1) and the maintenance
    page, which gives each caisse's "autre canal" (SPEC §5)."""
    return list(db.session.scalars(select(Caisse).order_by(Caisse.name)))


def partners_in_force(caisse_id: int | None = None) -> dict[int, int]:
    """SPEC §2: the number of partners holding a convention in force, by caisse
    (one caisse when ``caisse_id`` is given)."""
    q = (select(Convention.caisse_id, func.count(func.distinct(Convention.partenaire_id)))
         .where(*in_force_filter(today())).group_by(Convention.caisse_id))
    if caisse_id is not None:
        q = q.where(Convention.caisse_id == caisse_id)
    return dict(db.session.execute(q).all())


def referent_counts() -> dict[int, dict[str, int]]:
    """SPEC §1: by caisse, its référents (admin_caisse) active and awaiting
    activation, keyed by status value: a caisse with none needs national's attention."""
    counts: dict[int, dict[str, int]] = {}
    for caisse_id, status, n in db.session.execute(
        select(Account.caisse_id, Account.status, func.count(Account.id))
        .where(Account.profile == Profile.ADMIN_CAISSE,
               Account.status.in_((AccountStatus.ACTIVE, AccountStatus.PENDING)))
        .group_by(Account.caisse_id, Account.status)
    ):
        counts.setdefault(caisse_id, {})[AccountStatus(status).value] = n
    return counts


def referents(caisse_id: int) -> list[Account]:
    """SPEC §1: the caisse's référents (admin_caisse accounts) not deleted, by name."""
    return list(db.session.scalars(
        select(Account)
        .where(Account.caisse_id == caisse_id, Account.profile == Profile.ADMIN_CAISSE,
               Account.status != AccountStatus.DELETED)
        .order_by(Account.nom, Account.prenom, Account.id)
    ))


def caisse_names() -> list[tuple[int, str]]:
    """(id, name) of every caisse by name: national's caisse filters (SPEC §1, §7)."""
    return [(cid, name) for cid, name in db.session.execute(select(Caisse.id, Caisse.name).order_by(Caisse.name))]
