"""How long a desk's stamps last at the pace of its last 30 days of use."""
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import case, func, select

from portal.clock import day_start
from portal.extensions import db
from portal.models import StampMovement

WINDOW_DAYS = 30


@dataclass(frozen=True)
class Forecast:
    available: int
    used_recently: int  # stamps used in the last WINDOW_DAYS days, today included

    @property
    def days(self):
        """Whole days the balance lasts at that pace; None when nothing was used (no pace to judge)."""
        if self.used_recently <= 0:
            return None
        return max(0, self.available) * WINDOW_DAYS // self.used_recently


def forecasts(desk_ids, today, tz_name):
    """{desk id: Forecast} for `desk_ids` (a list or a select of ids), in one aggregate query."""
    since = day_start(today - timedelta(days=WINDOW_DAYS - 1), tz_name)
    until = day_start(today + timedelta(days=1), tz_name)
    consumed = StampMovement.kind == "consumo"
    signed = case((consumed, -StampMovement.quantity), else_=StampMovement.quantity)
    recent = case((consumed & (StampMovement.created_at >= since) & (StampMovement.created_at < until),
                   StampMovement.quantity), else_=0)
    rows = db.session.execute(
        select(StampMovement.desk_id, func.sum(signed), func.sum(recent))
        .where(StampMovement.desk_id.in_(desk_ids))
        .group_by(StampMovement.desk_id)
    ).all()
    return {desk_id: Forecast(int(available or 0), int(used or 0)) for desk_id, available, used in rows}


def forecast(desk_id, today, tz_name):
    """The Forecast of one desk (a desk with no movements has 0 stamps and no pace)."""
    return forecasts([desk_id], today, tz_name).get(desk_id, Forecast(0, 0))
