"""The command-line error contract, shared by every entry point (`hwgen`, `python -m hwgen.surrogate.search`):
a UserError prints one line `error: <field>: <message>` and exits 2; click usage errors exit 2 as well."""
from __future__ import annotations

import sys

import click

from .errors import UserError


def run_command(command: click.Command, prog_name: str) -> None:
    try:
        command.main(standalone_mode=False, prog_name=prog_name)
    except UserError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(2)
    except click.exceptions.Exit as err:
        sys.exit(err.exit_code)
    except click.ClickException as err:
        err.show()
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
