"""Property: the clustering ranges of a WHERE clause hold exactly the rows it selects,
for ASC and DESC columns alike."""

import operator

from hypothesis import given, settings
from hypothesis import strategies as strategies

from coordinator.cql3 import parse, plan, table_from

OPERATORS = {"=": operator.eq, "<": operator.lt, "<=": operator.le, ">": operator.gt,
             ">=": operator.ge}


class _Lookup:
    def __init__(self, descending: bool) -> None:
        order = "DESC" if descending else "ASC"
        self.table = table_from(parse(
            "CREATE TABLE t (k int, c1 int, c2 int, v int, PRIMARY KEY (k, c1, c2)) "
            f"WITH CLUSTERING ORDER BY (c1 {order}, c2 {'ASC' if descending else 'DESC'})"), "ks")

    def lookup_table(self, keyspace, name):
        return self.table


LOOKUPS = {True: _Lookup(True), False: _Lookup(False)}
small = strategies.integers(min_value=-3, max_value=3)
relation = strategies.tuples(strategies.sampled_from(sorted(OPERATORS)), small)


@settings(max_examples=80, deadline=None)
@given(descending=strategies.booleans(),
       first=strategies.one_of(strategies.none(), strategies.lists(relation, min_size=1, max_size=2)),
       second=strategies.lists(relation, max_size=2),
       in_values=strategies.one_of(strategies.none(), strategies.lists(small, min_size=1, max_size=3)))
def test_ranges_hold_exactly_the_selected_rows(descending, first, second, in_values):
    lookup = LOOKUPS[descending]
    where = ["k = 0"]
    predicates = []
    if in_values is not None:
        where.append(f"c1 IN ({', '.join(map(str, in_values))})")
        predicates.append(lambda c1, c2: c1 in in_values)
        first = None
    elif first:
        if any(op == "=" for op, _ in first) and len(first) > 1:
            first = first[:1]
        if len(first) == 2 and (first[0][0][0] == first[1][0][0] or "=" in (first[0][0], first[1][0])):
            first = first[:1]
        for op, value in first:
            where.append(f"c1 {op} {value}")
            predicates.append(lambda c1, c2, op=op, value=value: OPERATORS[op](c1, value))
    first_is_equal = in_values is not None or (first and first[0][0] == "=")
    if first_is_equal and second:
        if len(second) == 2 and (second[0][0][0] == second[1][0][0] or "=" in (second[0][0], second[1][0])):
            second = second[:1]
        for op, value in second:
            where.append(f"c2 {op} {value}")
            predicates.append(lambda c1, c2, op=op, value=value: OPERATORS[op](c2, value))
    read = plan(parse("SELECT * FROM t WHERE " + " AND ".join(where)), lookup, "ks")
    table = lookup.table
    for c1 in range(-4, 5):
        for c2 in range(-4, 5):
            key = table.encode_clustering((c1, c2))
            held = any(r.contains(key) for r in read.clustering_ranges)
            assert held == all(p(c1, c2) for p in predicates), (where, c1, c2)
    starts = [r.start.prefix if r.start else b"" for r in read.clustering_ranges]
    assert starts == sorted(starts)
