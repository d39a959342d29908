"""Placeholder: replaced by the module that implements these commands."""

import click


@click.command('schedule')
def schedule() -> None:
    """Not implemented yet."""
    raise click.ClickException("not implemented yet")


@click.command('doctor')
def doctor() -> None:
    """Not implemented yet."""
    raise click.ClickException("not implemented yet")
