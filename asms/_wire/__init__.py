"""The wires: how one gateway command travels (HTTP form or SOAP envelope)."""
