"""The layout's low-balance banner: a function the layout calls, so a fragment costs no query."""
from flask import has_request_context
from flask_login import current_user

from portal.alerts.preferences import low_balance


def init_app(app):
    @app.context_processor
    def _low_stamps():
        if not (has_request_context() and current_user.is_authenticated):
            return {}
        from portal.desks import current_desk

        def low_stamps():
            """(available, threshold) while the active desk is under the user's threshold."""
            desk = current_desk()
            return low_balance(current_user.id, desk.id) if desk else None

        return {"low_stamps": low_stamps}
