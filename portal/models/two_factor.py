"""Two-factor sign-in: a user's TOTP secret (encrypted) and their single-use recovery codes."""
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal import clock


class TwoFactorCredential(db.Model):
    """The authenticator app a user enrolled; unconfirmed until its first code is right."""

    __tablename__ = "two_factor_credentials"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    # The base32 secret, encrypted with a key derived from SECRET_KEY: a copy of the table opens nothing.
    secret_encrypted: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The last 30-second step a code was accepted for: the same code cannot be used twice.
    last_step: Mapped[int | None] = mapped_column(Integer)


class RecoveryCode(db.Model):
    """One of a user's ten recovery codes; only its SHA-256 is kept, and it works once."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
