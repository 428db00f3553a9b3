"""Local stand-ins for the payment channels (issue 21 item 3): each holds its own private keys and
builds a callback (headers and body) exactly as the real channel does, so the intake's verification
(services/collection/channels) is exercised for real. Key generation for development: dev_keys.py."""
