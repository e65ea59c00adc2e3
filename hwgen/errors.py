"""User-facing errors: one line, names the field and what is allowed, exit code 2."""
from __future__ import annotations


class UserError(Exception):
    """Bad input from the user. The CLI prints `error: <field>: <message>` and exits 2."""

    exit_code = 2

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class ToolMissing(UserError):
    """A required EDA tool is not installed."""

    def __init__(self, tool: str, hint: str):
        super().__init__(tool, f"not found on PATH; {hint}")


def validation_error_to_user_error(err, model_cls=None) -> UserError:
    """Turn the first pydantic ValidationError entry into a one-line UserError with the allowed range."""
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first.get("loc", ())) or "config"
    msg = first.get("msg", "invalid value")
    allowed = _allowed_range(model_cls, first.get("loc", ()))
    got = first.get("input")
    got_txt = "" if isinstance(got, dict) or got is None else f" (got {got!r})"
    tail = f"; allowed: {allowed}" if allowed else ""
    return UserError(loc, f"{msg}{got_txt}{tail}")


def _allowed_range(model_cls, loc) -> str:
    if model_cls is None or not loc:
        return ""
    field = getattr(model_cls, "model_fields", {}).get(str(loc[0]))
    if field is None:
        return ""
    lo = hi = None
    for meta in field.metadata:
        lo = getattr(meta, "ge", lo) if getattr(meta, "ge", None) is not None else lo
        hi = getattr(meta, "le", hi) if getattr(meta, "le", None) is not None else hi
    if lo is not None or hi is not None:
        return f"{'' if lo is None else lo}..{'' if hi is None else hi}"
    ann = field.annotation
    args = getattr(ann, "__args__", None)
    if args and all(isinstance(a, str) for a in args):
        return " | ".join(args)
    return ""
