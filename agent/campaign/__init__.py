"""Whom to call and when: imports, Mexican numbering and time zones, calling rules, the dialer."""
