"""Insurance-side use cases, one module per use case. Each runs in the caller's unit of work: load →
domain rules → persist with events and the check projection; the caller commits. A DomainError
leaves nothing written."""
