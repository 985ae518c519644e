"""Query API: indicators per scope and period, read from Redis."""
