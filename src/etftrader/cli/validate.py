"""Placeholder: replaced by the module that implements these commands."""

import click


@click.command('validate')
def validate() -> None:
    """Not implemented yet."""
    raise click.ClickException("not implemented yet")
