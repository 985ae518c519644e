"""Reports for leaders: the annual appendix table, rankings, the monthly summary, as CSV,
XLSX and PDF."""
