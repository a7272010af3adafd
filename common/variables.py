"""Environment variables, each declared once: name, default, meaning and validation.

Every `HEADWATER_*` variable is a `Variable` declared with `declare()` in the module that owns it
(services in common/config.py, the tenants file in common/contracts/tenants.py, the local stack's
ports in infra/stack/services.py, each job's knobs in jobs/<job>/settings.py). Reading goes through
`Variable.read`, which validates with pydantic and names the variable in the error. The README table
and `headwater --help` are generated from the declarations (cli/variables.py) and a test checks the
README against them, so the three cannot drift apart.

A job's settings are a frozen dataclass whose fields are `setting(VARIABLE)`: `read_settings(cls)`
fills every field from its variable.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from functools import cache
from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError

from common.errors import HeadwaterError

PositiveInt = Annotated[int, Field(gt=0)]
Port = Annotated[int, Field(gt=0, lt=65536)]


class ConfigError(HeadwaterError, ValueError):
    """A setting that cannot work; the message says which variable to fix and how."""


@dataclass(frozen=True)
class Variable:
    name: str
    default: Any  # the value when the variable is unset
    meaning: str
    kind: Any = str  # what pydantic validates the text against (int, PositiveInt, Port, ...)
    section: str = "services"  # who reads it: a README table groups by it
    default_text: str | None = None  # the default as the README shows it, where it is computed
    check: Callable[[Any], None] | None = None  # raises ValueError("what is wrong") for a bad value

    def read(self, env: Mapping[str, str] | None = None):
        """The validated value from `env` (default: the process environment), else the default."""
        raw = (os.environ if env is None else env).get(self.name)
        if raw is None:
            return self.default
        try:
            value = _adapter(self.kind).validate_strings(raw) if self.kind is not str else raw
            if self.check is not None:
                self.check(value)
        except ConfigError:
            raise
        except ValidationError as exc:
            if self.kind is PositiveInt:
                raise ConfigError(f"{self.name}={raw!r} must be a positive integer") from None
            raise ConfigError(f"{self.name}={raw!r}: {_first_error(exc)}") from None
        except ValueError as exc:
            raise ConfigError(f"{self.name}={raw!r} {exc}") from None
        return value

    @property
    def shown_default(self) -> str:
        if self.default_text is not None:
            return self.default_text
        return "-" if self.default is None else str(self.default)


@cache
def _adapter(kind) -> TypeAdapter:
    return TypeAdapter(kind)


def _first_error(exc: ValidationError) -> str:
    message = exc.errors()[0]["msg"]
    return message[0].lower() + message[1:]


DECLARED: dict[str, Variable] = {}


def declare(name: str, default: Any, meaning: str, **options) -> Variable:
    """Declare a variable (once: a second declaration of the same name is a bug)."""
    if not name.startswith("HEADWATER_"):
        raise ValueError(f"{name}: Headwater's variables start with HEADWATER_")
    if name in DECLARED:
        raise ValueError(f"{name} is declared twice")
    variable = Variable(name, default, meaning, **options)
    DECLARED[name] = variable
    return variable


def setting(variable: Variable):
    """A settings dataclass field read from `variable` by `read_settings` (default: its default)."""
    return field(default=variable.default, metadata={"variable": variable})


def read_settings(cls, env: Mapping[str, str] | None = None):
    """An instance of the settings dataclass `cls`, each `setting(...)` field read from the environment."""
    return cls(**{f.name: f.metadata["variable"].read(env) for f in fields(cls) if "variable" in f.metadata})
