"""The data model (PRODUCT.md §1 and §5): one module per aggregate."""
from portal.models.accounts import Desk, DeskInvitation, GridPreference, Membership, User, UserSession
from portal.models.alerts import Alert, AlertPreference
from portal.models.api_tokens import ApiToken
from portal.models.audit import AuditEvent
from portal.models.outbox import OutboxMessage
from portal.models.prepaid import Client, PrepaidKey
from portal.models.services import Product, Service, StampMovement
from portal.models.sso import DeskIdentityProvider, SsoIdentity
from portal.models.two_factor import RecoveryCode, TwoFactorCredential

__all__ = [
    "Alert", "AlertPreference", "ApiToken", "AuditEvent", "Client", "Desk", "DeskIdentityProvider", "DeskInvitation",
    "GridPreference", "Membership", "OutboxMessage", "PrepaidKey", "Product", "RecoveryCode", "Service", "SsoIdentity",
    "StampMovement", "TwoFactorCredential",
    "User", "UserSession",
]
