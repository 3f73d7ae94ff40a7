"""The columns of the dialer's cdr_custom mapping (config/asterisk/cdr_custom.conf), in file order."""

from __future__ import annotations

# (column, CDR() argument): cdr_custom renders each as ${CSV_QUOTE(${CDR(<argument>)})}.
FIELDS: tuple[tuple[str, str], ...] = (
    ("uniqueid", "uniqueid"),
    ("linkedid", "linkedid"),
    ("disposition", "disposition"),
    ("start", "start,u"),
    ("answer", "answer,u"),
    ("end", "end,u"),
    ("billsec", "billsec,f"),
    ("dialer_call_id", "dialer_call_id"),
    ("dialer_recording", "dialer_recording"),
    ("dialer_amd", "dialer_amd"),
    ("dialer_optout", "dialer_optout"),
    ("dialer_callback", "dialer_callback"),
    ("dialer_queue", "dialer_queue"),
    ("dialer_abandoned", "dialer_abandoned"),
    ("dialer_survey", "dialer_survey"),
)

# Files written with the mapping before `dialer_survey` was added have one column fewer; they are
# read as they are (no survey answers in them).
LEGACY_COLUMNS = len(FIELDS) - 1

MAPPING = ",".join(f"${{CSV_QUOTE(${{CDR({argument})}})}}" for _, argument in FIELDS)
"""The right-hand side of the `dialer.csv =>` line in cdr_custom.conf (a test keeps them equal)."""
