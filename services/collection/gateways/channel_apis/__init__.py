"""Clients of the channels' own APIs (R43, issue 21 items 4 and 5): order query, close, refund and refund
query, one module per channel family, each speaking its channel's protocol (ports.py is their port)."""
