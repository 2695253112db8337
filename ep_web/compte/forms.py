from flask_wtf import FlaskForm


class ActionForm(FlaskForm):
    """A bare POST (CSRF only): close a session, close the others."""
