"""Background processes, each separate from the gRPC servers: python -m workers.<name>."""
