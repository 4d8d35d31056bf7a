"""The vocabulary every layer shares: plain values, errors, the clock, calendars."""
