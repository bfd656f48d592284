"""Helpers shared by the test folders (fakes, a campaign child process, the stateful model)."""
