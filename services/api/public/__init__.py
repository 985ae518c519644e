"""The public results page: its figures and trend sparklines."""
