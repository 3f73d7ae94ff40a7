"""dialer.sim: an Asterisk PBX simulator speaking AMI over TCP, built from recorded transcripts.

It shares no code with the dialer's AMI client, so a protocol bug cannot hide on both sides.
"""

from dialer.sim.callees import (
    DEFAULT_TABLE,
    CalleePlan,
    Dist,
    Outcome,
    Profile,
    ProfileError,
    RandomSpec,
    Rule,
    load_profile,
)
from dialer.sim.config import Faults, ResponseFault, SimConfig, SimUser
from dialer.sim.oplog import CallEndRecord, OriginationRecord
from dialer.sim.server import SimServer

__all__ = [
    "DEFAULT_TABLE",
    "CallEndRecord",
    "CalleePlan",
    "Dist",
    "Faults",
    "OriginationRecord",
    "Outcome",
    "Profile",
    "ProfileError",
    "RandomSpec",
    "ResponseFault",
    "Rule",
    "SimConfig",
    "SimServer",
    "SimUser",
    "load_profile",
]
