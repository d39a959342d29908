"""Placeholder: replaced by the module that implements these commands."""

import click


@click.command('weekly')
def weekly() -> None:
    """Not implemented yet."""
    raise click.ClickException("not implemented yet")


@click.command('init')
def init() -> None:
    """Not implemented yet."""
    raise click.ClickException("not implemented yet")


@click.command('holdings')
def holdings() -> None:
    """Not implemented yet."""
    raise click.ClickException("not implemented yet")
