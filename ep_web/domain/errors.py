class DomainError(Exception):
    """A rule refused the action. ``message`` is shown to the user as is (French);
    ``field`` names the form field it belongs to, when there is one."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class NotAllowed(DomainError):
    """The actor may not do this (routes turn it into 403/404)."""
