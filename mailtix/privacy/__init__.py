"""Data protection: finding, exporting, erasing and pseudonymising a person's data."""
