"""Apache Kafka (KRaft) from Maven Central jars: install, configure, run."""
