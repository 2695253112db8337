class DomainError(Exception):
    """A rule refused the action. ``message`` is shown to the user as is (French);
    ``field`` names the form field it belongs to, when there is one."""

    def __init__(self, message: str, field: str | None = None, others=()):
        super().__init__(message)
        self.message = message
        self.field = field
        # Further (message, field) pairs found in the same pass: a form shows
        # every error at once, not one per submission.
        self.others = list(others)

    @classmethod
    def collected(cls, errors: list[tuple[str, str | None]]) -> "DomainError | None":
        """One error carrying all of ``errors`` (None when there is none)."""
        if not errors:
            return None
        (message, field), *rest = errors
        return cls(message, field, rest)


class NotAllowed(DomainError):
    """The actor may not do this (routes turn it into 403/404)."""
