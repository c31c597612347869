"""SIP transport: a pjsua2 user agent that connects phone calls to ``CallSession``s."""
