"""One run of the alerts: raise what is due and write its mails, in the caller's transaction."""
import uuid
from dataclasses import dataclass

from portal.alerts.find import raise_alerts
from portal.alerts.mails import write_mails
from portal import clock


@dataclass(frozen=True)
class RunReport:
    raised: dict
    mails: int

    @property
    def alerts(self):
        return sum(self.raised.values())


def run_alerts(today, *, store_url, tz_name, now=None):
    """Raise the alerts due on `today` (a date in TIMEZONE) and enqueue their mails; the caller
    commits both together, so an alert is never raised without its mail, nor mailed twice."""
    batch = uuid.uuid4().hex
    raised = raise_alerts(today, batch, now or clock.now())
    mails = write_mails(batch, today, store_url, tz_name) if any(raised.values()) else 0
    return RunReport(raised, mails)
