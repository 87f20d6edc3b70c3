"""Single sign-on: identities of an OpenID Provider linked to accounts, and a desk's own provider."""
from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal import clock


class SsoIdentity(db.Model):
    """An account of an OpenID Provider (issuer + `sub`, which never change there) that signs in as
    one of the portal's accounts; found again even after the e-mail changes at the provider."""

    __tablename__ = "sso_identities"
    __table_args__ = (UniqueConstraint("issuer", "subject", name="uq_sso_identities_issuer_subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    issuer: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(String(255))
    # The provider made the account (OIDC_AUTO_CREATE): its desks follow the provider's groups.
    created_account: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DeskIdentityProvider(db.Model):
    """A desk's own OpenID Provider (its company's), for the e-mail domains it answers for."""

    __tablename__ = "desk_identity_providers"

    desk_id: Mapped[int] = mapped_column(ForeignKey("desks.id", ondelete="CASCADE"), primary_key=True)
    issuer: Mapped[str] = mapped_column(String(300))
    client_id: Mapped[str] = mapped_column(String(255))
    # Sealed as the CDAs are (portal/sealed.py, under DATA_KEY): never shown, never in the API.
    client_secret_encrypted: Mapped[str] = mapped_column(Text)
    # Lower-case domains, comma-separated ("empresa.mx,empresa.com"): as many as the API admits.
    domains: Mapped[str] = mapped_column(Text)
    # "Solo con la cuenta de la empresa": password sign-in refused for these domains.
    required: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now, onupdate=clock.now)

    @property
    def domain_list(self):
        return [domain for domain in self.domains.split(",") if domain]
