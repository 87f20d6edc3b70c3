"""Extensions, created unbound; create_app() binds them to an app."""
from flask_compress import Compress
from flask_login import LoginManager
from flask_mail import Mail
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData

from portal.units import bind_for, current_work

# Named constraints, so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}



class PortalSession(Session):
    """db.session: the engine it hands out carries the mode of the unit of work the code runs in
    (portal.units), for the whole unit — a commit midway (a grid saving the user's columns) does
    not bring transactions back for a reading page's statements after it."""

    def get_bind(self, *args, **kwargs):
        return bind_for(super().get_bind(*args, **kwargs), current_work())


db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING), session_options={"class_": PortalSession})
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
mail = Mail()
# Pages, fragments, CSS and JS gzip/brotli-compressed when the browser accepts it.
compress = Compress()
