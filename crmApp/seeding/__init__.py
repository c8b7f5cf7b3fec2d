"""Demo and volume data for the CRM: the `seed_data` command is a thin shell over this package."""
