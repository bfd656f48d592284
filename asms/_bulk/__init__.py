"""Bulk runs: grouping, the request pool, the rate limiter, the journal and the report."""
