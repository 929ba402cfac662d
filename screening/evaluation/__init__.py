"""Tools to measure ipscreen honestly: synthetic edits of public images, labelled sets, metrics.

Shared by the demo, the calibration fit and the benchmarks so all three apply the same edits.
"""
