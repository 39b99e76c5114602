"""``shardsim up/down/status/kill/start/stop/pause/resume``: the ccm-style local cluster launcher."""
