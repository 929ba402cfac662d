"""The text side: input checks, literal alignment, paraphrase, indexes, screening, and
the text half of a Workspace."""
