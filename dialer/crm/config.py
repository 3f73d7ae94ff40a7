"""A campaign's `callbacks` table: what happens when a callee presses the callback key."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CallbackPolicy(BaseModel):
    """The dialplan offers the key (DIALER_CALLBACK_KEY); a press schedules a callback `delay_s` later."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=False, description="offer the key and honour UserEvent DialerCallback")
    key: str = Field(default="1", pattern=r"[0-8*]", description="the DTMF key (9 is the opt-out key)")
    delay_s: float = Field(default=3600.0, ge=0, description="call back this long after the call ended")
