"""Lead lists: CSV reading, normalisation and import."""
