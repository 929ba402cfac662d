"""Fitted calibration parameters (JSON), packaged as data."""
