"""Tax-side use cases, by concern. Each runs in the caller's unit of work; the caller commits."""
