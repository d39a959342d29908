"""Placeholder: replaced by the module that implements these commands."""

import click


@click.command('backtest')
def backtest() -> None:
    """Not implemented yet."""
    raise click.ClickException("not implemented yet")
