"""Which alerts a user wants in a desk, and the stamp threshold they set."""
from sqlalchemy import select

from portal.alerts.find import balance_of
from portal.extensions import db
from portal.models import AlertPreference, Membership

MAX_THRESHOLD = 10_000_000


class NotAMember(Exception):
    """The link's desk is no longer one of the user's."""

    def __init__(self):
        super().__init__("Ya no perteneces a ese escritorio: no recibirás sus avisos.")


def preference_of(user_id, desk_id):
    """The user's preferences in the desk; an unsaved one with the defaults if they never chose."""
    found = db.session.scalar(select(AlertPreference).where(
        AlertPreference.user_id == user_id, AlertPreference.desk_id == desk_id))
    if found is not None:
        return found
    return AlertPreference(user_id=user_id, desk_id=desk_id, payments=True, validity=True,
                           expiring_keys=True, low_stamps=True, stamp_threshold=None, stamp_period=0)


def save_preferences(user_id, desk_id, *, payments, validity, expiring_keys, low_stamps, threshold):
    """Keep the user's choices for the desk (the caller commits); True if anything changed."""
    preference = preference_of(user_id, desk_id)
    wanted = {"payments": payments, "validity": validity, "expiring_keys": expiring_keys,
              "low_stamps": low_stamps, "stamp_threshold": threshold}
    changed = preference.id is None or any(getattr(preference, k) != v for k, v in wanted.items())
    for name, value in wanted.items():
        setattr(preference, name, value)
    db.session.add(preference)
    return changed


def unsubscribe(user_id, desk_id, group):
    """Turn off one group of the user's alerts in the desk (the caller commits)."""
    member = db.session.scalar(select(Membership.id).where(
        Membership.user_id == user_id, Membership.desk_id == desk_id))
    if member is None:
        raise NotAMember()
    preference = preference_of(user_id, desk_id)
    setattr(preference, group, False)
    db.session.add(preference)


def low_balance(user_id, desk_id):
    """(available, threshold) while the desk's stamps are under the user's threshold, else None."""
    row = db.session.execute(
        select(balance_of(desk_id), AlertPreference.stamp_threshold)
        .where(AlertPreference.user_id == user_id, AlertPreference.desk_id == desk_id,
               AlertPreference.stamp_threshold.is_not(None))
    ).first()
    if row is None or row[0] >= row[1]:
        return None
    return int(row[0]), row[1]
