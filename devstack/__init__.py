"""The local stack: real Kafka (KRaft), Redis and Prometheus as processes on loopback,
the four services, and the bootstrap that installs what is missing."""
