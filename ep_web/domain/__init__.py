"""The rules. Functions take the actor and plain data, raise DomainError with a
French message, flush, never commit, and never import ``request``."""
from ep_web.domain.errors import DomainError  # noqa: F401
