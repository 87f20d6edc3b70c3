"""Alerts a customer can count on: renewals, expiries and stamps running out, each mailed once.

find.py raises what is due with set-based SQL (INSERT … SELECT … ON CONFLICT DO NOTHING), mails.py
writes the mails of the alerts one run raised, run.py ties both into one transaction; forecast.py
is the stamp forecast, due.py the "Vence en N días" badge, preferences.py and unsubscribe.py what
each user asked for. None of them reads the request: views and the CLI call them.
"""
