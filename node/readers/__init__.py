"""The fragment stream every reader yields: its grammar, positions, query ranges and stream order (ScyllaDB's readers/)."""
