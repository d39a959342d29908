"""Tests of the validation backtest (etftrader.backtest, etftrader.metrics, etftrader backtest)."""
