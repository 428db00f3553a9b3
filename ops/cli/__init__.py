"""The subcommands of `medins` (ops/medins.py dispatches to them), one module each, and what they share:
how to reach a service (services.py), how a failure is told (errors.py), how answers are shown (show.py)."""
