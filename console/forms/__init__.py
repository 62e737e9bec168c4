"""The dashboard's sending forms, one module per channel over ``base``."""
