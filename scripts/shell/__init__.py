"""``shardsim cql``: the cqlsh-like shell, its line input and result formatting."""
