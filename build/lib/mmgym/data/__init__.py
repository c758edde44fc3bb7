"""Exchange data: the normalized event format, importers, the ccxt recorder and calibration."""
