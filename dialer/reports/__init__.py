"""Reports: figures from the store (`queries`), and their forms: rich tables, CSV rows, HTML.

`campaign_report` is loaded on first use (PEP 562): `dialer status` imports `dialer.reports.status`
alone and should not pay for the full report's modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dialer.reports.queries import campaign_report

__all__ = ["campaign_report"]


def __getattr__(name: str) -> Any:
    """Load `campaign_report` the first time it is asked for."""
    if name != "campaign_report":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from dialer.reports.queries import campaign_report

    return campaign_report
