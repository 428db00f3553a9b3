"""SQL statements with named parameters (`:payment_id`), bound from dataclasses.

asyncpg speaks only positional parameters ($1, $2, ...). A statement that writes a dozen tables takes
dozens of them, and positions that must be counted by hand drift. A `NamedStatement` is written with
names, compiled once to positions, and binds its arguments from named dataclasses: a missing or unknown
name is an error before anything reaches the database."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

# `:name`, not the second colon of a `::type` cast nor a colon inside a word.
_NAME = re.compile(r"(?<![:\w]):([a-z][a-z0-9_]*)")


@dataclass(frozen=True)
class NamedStatement:
    """A statement compiled from named parameters to asyncpg's positional ones."""

    sql: str
    names: tuple[str, ...]  # position n + 1 holds names[n]

    @classmethod
    def of(cls, text: str) -> NamedStatement:
        names: list[str] = []

        def position(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in names:
                names.append(name)
            return f"${names.index(name) + 1}"

        return cls(_NAME.sub(position, text), tuple(names))

    def args(self, *params: Any) -> list[object]:
        """The positional arguments, taken by name from the fields of `params` (dataclasses whose fields
        together are exactly the statement's names)."""
        values: dict[str, object] = {}
        for group in params:
            for field in dataclasses.fields(group):
                if field.name in values:
                    raise ValueError(f"parameter {field.name} given twice")
                values[field.name] = getattr(group, field.name)
        if set(values) != set(self.names):
            missing = sorted(set(self.names) - set(values))
            unknown = sorted(set(values) - set(self.names))
            raise ValueError(f"parameters do not match the statement: missing {missing}, unknown {unknown}")
        return [values[name] for name in self.names]


def field_names(*params: type[Any]) -> set[str]:
    """The names a statement bound from dataclasses of these types takes."""
    return {field.name for group in params for field in dataclasses.fields(group)}
