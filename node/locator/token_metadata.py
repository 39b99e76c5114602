"""The vnode ring: every node's tokens, and which vnode owns a token.

Each node holds ``num_tokens`` vnode tokens derived from the cluster and node names,
so every process computes the same ring from cluster.toml with no coordination,
whatever order the nodes are listed in. Purely random tokens (the Murmur3 token of
``"<cluster>/<node>/<i>"``) leave 16-vnode nodes up to ~40% apart in ownership, so,
in the spirit of Cassandra 4's token allocator, nodes are placed in name order and
each new token splits the largest vnode of the most loaded node at a point chosen
by hashing (within the middle half of that vnode). The first node's tokens are the
random ones. A vnode owns ``(previous token, its token]``; the first vnode also owns the wrap
``(last token, TOKEN_MAX] + (TOKEN_MIN, first token]``.

Invariant: tokens are unique and sorted, so every token is owned by exactly one vnode.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from node.dht.ranges import RING_SIZE, TokenRange
from node.dht.token import TOKEN_MAX, token_of


@dataclass(frozen=True)
class Endpoint:
    """What the ring needs to know of a node."""

    name: str
    dc: str
    rack: str


def random_tokens(cluster_name: str, node_name: str, num_tokens: int) -> list[int]:
    """Hash-derived tokens of a node, stable across processes and runs."""
    return sorted(token_of(f"{cluster_name}/{node_name}/{index}".encode()) for index in range(num_tokens))


def allocate_tokens(cluster_name: str, node_names: list[str], num_tokens: int) -> dict[int, str]:
    """token -> node for every node, placed in name order (see the module docstring)."""
    names = sorted(node_names)
    owners: dict[int, str] = {}
    for token in random_tokens(cluster_name, names[0], num_tokens):
        owners[token] = names[0]
    for name in names[1:]:
        for index in range(num_tokens):
            tokens = sorted(owners)
            load: dict[str, int] = {}
            widths = []
            for position, token in enumerate(tokens):
                width = TokenRange(tokens[position - 1], token).width()
                widths.append(width)
                load[owners[token]] = load.get(owners[token], 0) + width
            heaviest = max(load, key=lambda node: (load[node], node))
            position = max((p for p, token in enumerate(tokens) if owners[token] == heaviest),
                           key=lambda p: (widths[p], tokens[p]))
            fraction = token_of(f"{cluster_name}/{name}/{index}".encode()) % 1024
            offset = widths[position] // 4 + widths[position] // 2 * fraction // 1024
            token = tokens[position - 1] + max(1, offset)
            if token > TOKEN_MAX:
                token -= RING_SIZE
            while token in owners:
                token += 1
            owners[token] = name
    return owners


class TokenMetadata:
    """The sorted ring of (token, node)."""

    def __init__(self, cluster_name: str, endpoints: list[Endpoint], num_tokens: int) -> None:
        assert endpoints, "a ring has at least one node"
        self.endpoints = {endpoint.name: endpoint for endpoint in endpoints}
        assert len(self.endpoints) == len(endpoints), "node names are unique"
        owners = allocate_tokens(cluster_name, list(self.endpoints), num_tokens)
        self.tokens: list[int] = sorted(owners)
        self.owners: list[str] = [owners[token] for token in self.tokens]

    def __len__(self) -> int:
        return len(self.tokens)

    def vnode_index(self, token: int) -> int:
        """The index of the vnode owning ``token``: the first ring token >= token."""
        index = bisect.bisect_left(self.tokens, token)
        return 0 if index == len(self.tokens) else index

    def vnode_range(self, index: int) -> TokenRange:
        return TokenRange(self.tokens[index - 1], self.tokens[index])

    def vnode_ranges(self) -> list[TokenRange]:
        """All vnode ranges in ring order; the first one wraps."""
        return [self.vnode_range(index) for index in range(len(self.tokens))]

    def tokens_of(self, node: str) -> list[int]:
        return [token for token, owner in zip(self.tokens, self.owners) if owner == node]
