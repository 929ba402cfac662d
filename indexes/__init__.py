"""FAISS indexes of features, mapped to work ids, and their crash-safe persistence.

Indexes know feature *kinds* (binary codes, dense unit vectors), never the models that made
them: they import nothing from models/ at run time beyond the FeatureSpec record.
"""
