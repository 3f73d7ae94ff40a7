"""Text messages: SMS campaigns sent through AMI under the compliance gate, and replies (STOP)."""
