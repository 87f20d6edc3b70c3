"""Users, desks (escritorios) and who belongs to which."""
import secrets
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Index, String, UniqueConstraint, func
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from portal.extensions import db
from portal import clock
from portal.models._types import check_in

DESK_KINDS = ("cliente", "distribuidor")
# Propietario, Usuario, Consulta (portal/roles.py says what each may do).
MEMBER_ROLES = ("owner", "member", "viewer")


def new_session_token():
    return secrets.token_hex(16)


class User(db.Model):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str] = mapped_column(String(30), default="")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    email_verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Part of the session id: changing it signs the user out everywhere.
    session_token: Mapped[str] = mapped_column(String(32), default=new_session_token)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now, onupdate=clock.now)

    memberships: Mapped[list["Membership"]] = relationship(back_populates="user", cascade="all, delete-orphan")

    @validates("email")
    def _normalise_email(self, key, value):
        return value.strip().lower()

    @property
    def email_verified(self):
        return self.email_verified_at is not None


# E-mail is unique however it is capitalised, even if a writer forgets to normalise it.
Index("uq_users_email_lower", func.lower(User.email), unique=True)


class UserSession(db.Model):
    """A signed-in browser. Its row is the session: deleting it signs that browser out, even one
    that kept a copy of its cookie (Flask's cookies are signed, not stored, so they cannot be revoked)."""

    __tablename__ = "user_sessions"

    # SHA-256 of the secret the cookie carries: a copy of this table opens no session.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)


class Desk(db.Model):
    __tablename__ = "desks"
    __table_args__ = (CheckConstraint(check_in("kind", DESK_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    razon_social: Mapped[str] = mapped_column(String(200))
    rfc: Mapped[str] = mapped_column(String(13), unique=True)
    kind: Mapped[str] = mapped_column(String(20), default="cliente")
    # Every user of the desk must sign in with a second step (portal/auth/two_factor.py).
    require_two_factor: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now, onupdate=clock.now, index=True)

    memberships: Mapped[list["Membership"]] = relationship(back_populates="desk", cascade="all, delete-orphan")

    @property
    def is_distributor(self):
        return self.kind == "distribuidor"


class Membership(db.Model):
    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("user_id", "desk_id", name="uq_memberships_user_desk"),
        CheckConstraint(check_in("role", MEMBER_ROLES), name="role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    desk_id: Mapped[int] = mapped_column(ForeignKey("desks.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(10), default="member")

    user: Mapped[User] = relationship(back_populates="memberships")
    desk: Mapped[Desk] = relationship(back_populates="memberships")


class GridPreference(db.Model):
    """The columns a user chose to see in one grid ("Columnas")."""

    __tablename__ = "grid_preferences"
    __table_args__ = (UniqueConstraint("user_id", "grid", name="uq_grid_preferences_user_grid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    grid: Mapped[str] = mapped_column(String(40))
    columns: Mapped[str] = mapped_column(String(500))


class DeskInvitation(db.Model):
    """An owner's invitation to join a desk with a role, pending until accepted or withdrawn (then
    deleted: the audit events keep its story). The e-mailed link names it with `nonce`, which a
    resend replaces, so only the last link sent opens it."""

    __tablename__ = "desk_invitations"
    __table_args__ = (
        UniqueConstraint("desk_id", "email", name="uq_desk_invitations_desk_email"),
        CheckConstraint(check_in("role", MEMBER_ROLES), name="role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    desk_id: Mapped[int] = mapped_column(ForeignKey("desks.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(10), default="member")
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    nonce: Mapped[str] = mapped_column(String(32), default=new_session_token)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    desk: Mapped[Desk] = relationship()
    invited_by: Mapped[User | None] = relationship()

    @validates("email")
    def _normalise_email(self, key, value):
        return value.strip().lower()
