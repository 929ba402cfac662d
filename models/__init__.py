"""Feature extractors: image -> perceptual hashes, image -> SSCD descriptors.

This package imports nothing else of ipscreen's, so it can be reused and tested alone.
"""
