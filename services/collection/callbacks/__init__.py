"""The channels' HTTPS callbacks (R44): one path per channel, each answered in its own protocol, every
callback handed raw (body and headers) to the one payment intake (services/collection/payment_intake.py)
and stored with its outcome (R21b). Run as `python -m services.collection.callbacks`."""
