"""Signed values that expire (e-mailed links, activation steps), dated by the portal's clock."""
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from portal import clock


class _ClockSigner(TimestampSigner):
    """itsdangerous' signer, reading the time from portal/clock.py; `at` fixes the issue time."""

    def __init__(self, *args, at=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.at = at

    def get_timestamp(self):
        return int(self.at) if self.at is not None else int(clock.timestamp())


def timed_serializer(secret_key, salt, at=None):
    """A URL-safe serializer whose signatures carry (and whose max_age reads) the portal's clock;
    `at` (epoch seconds) dates what it signs."""
    return URLSafeTimedSerializer(secret_key, salt=salt, signer=_ClockSigner, signer_kwargs={"at": at})
