"""Ingest: HTTP → validated events → Kafka."""
