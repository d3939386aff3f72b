"""The local backend (embedded default): ranks are real processes on this machine."""
