"""The event contract (domain README §3, §4a, §4b): events, JSON Schemas, decoding of Kafka
records, dead letters, and the Kafka key of an event. No I/O."""
