"""``shardsim bench NAME``: one benchmark per module, each printing a table and one JSON line."""
