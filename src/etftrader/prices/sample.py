"""The bundled real sample: skfolio's factor ETFs and large US stocks, offline."""

from __future__ import annotations

import functools
from pathlib import Path
import pandas as pd

from .frame import SAMPLE_BENCHMARK_LABEL, PriceData, normalize_frame


SAMPLE_NOTE = ("sample data is a demo universe, not an investable ETF list: 5 iShares factor ETFs "
               "(MTUM QUAL SIZE USMV VLUE, 2014-2022) and 20 large US stocks (1990-2022) bundled "
               "with skfolio; benchmark = the S&P 500 price index standing in for SPY: it has no "
               "dividends (about 1.8% a year in 2014-2022) while the portfolios' prices include them, "
               "so excess returns against it are overstated by about that much")


_SAMPLE_FILES = ("factors_dataset.csv.gz", "sp500_dataset.csv.gz", "sp500_index.csv.gz")

@functools.lru_cache(maxsize=1)
def _sample_frames() -> tuple[pd.DataFrame, pd.Series]:
    factors, stocks, index = _read_skfolio_datasets()
    close = normalize_frame(pd.concat([factors, stocks], axis=1, sort=True))
    bench = normalize_frame(index).iloc[:, 0].rename(SAMPLE_BENCHMARK_LABEL)
    return close, bench


def _read_skfolio_datasets() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """skfolio's three bundled CSVs, read without importing skfolio when the files are found.

    ``import skfolio`` pulls in scikit-learn and scipy (4-6 s on a cold start) only to read three
    small gzipped CSVs; the demo command should not pay that. The files are read the way
    ``skfolio.datasets`` reads them; if the wheel's layout ever changes, its public loaders are used.
    The tests compare this path with skfolio's own loaders.
    """
    import importlib.util

    spec = importlib.util.find_spec("skfolio")  # locates the package without executing it
    folder = Path(next(iter(spec.submodule_search_locations or []), "")) / "datasets" / "data" if spec else None
    if folder is not None and all((folder / name).is_file() for name in _SAMPLE_FILES):
        frames = []
        for name in _SAMPLE_FILES:
            frame = pd.read_csv(folder / name, sep=",", index_col=0, compression="gzip")
            frame.index = pd.to_datetime(frame.index, format="%Y-%m-%d")
            frames.append(frame)
        return frames[0], frames[1], frames[2]
    from skfolio.datasets import load_factors_dataset, load_sp500_dataset, load_sp500_index

    return load_factors_dataset(), load_sp500_dataset(), load_sp500_index()


def load_sample() -> PriceData:
    """The bundled real sample (skfolio datasets), no volume, never cached in the store."""
    close, bench = _sample_frames()
    return PriceData(close=close.copy(), volume=None, source="sample", benchmark=bench.copy(),
                     notes=(SAMPLE_NOTE,))
