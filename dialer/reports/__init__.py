"""Reports: figures from the store (`queries`), and their forms: rich tables, CSV rows, HTML."""

from dialer.reports.queries import campaign_report

__all__ = ["campaign_report"]
