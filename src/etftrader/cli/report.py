"""Placeholder: replaced by the module that implements these commands."""

import click


@click.command('report')
def report() -> None:
    """Not implemented yet."""
    raise click.ClickException("not implemented yet")
