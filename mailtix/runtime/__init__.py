"""Wiring the parts together: the app, the poller, the daemon, config reloads."""
