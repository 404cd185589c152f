"""Python side of stylizer: the multi-style network, its exporter and trainer."""
