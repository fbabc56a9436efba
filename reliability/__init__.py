"""The reliability suite (`make reliability`): bad input, bad files, load, floods, slow clients,
stopping and backend faults against real gateway processes on loopback; writes docs/reliability.md."""
