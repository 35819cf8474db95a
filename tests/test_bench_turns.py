"""bench/measure.py's order of turns: every server takes every round once, and the order changes from round
to round, so that no server always stands at the same place or follows the same server (bench/ROUNDS.md,
sixth round)."""

from __future__ import annotations

from bench.measure import turn_order


def test_every_round_is_every_server_once_and_the_same_in_every_run() -> None:
    for count in range(1, 9):
        for turn in range(12):
            assert sorted(turn_order(count, turn)) == list(range(count))
            assert turn_order(count, turn) == turn_order(count, turn)


def test_over_five_rounds_no_server_keeps_its_place_or_its_predecessor() -> None:
    """Five rounds, the default: each of three to eight servers stands at two places or more, and follows
    two servers or more (the first of a round follows the last of the round before)."""
    for count in range(3, 9):
        orders = [turn_order(count, turn) for turn in range(5)]
        sequence = [index for order in orders for index in order]
        for server in range(count):
            places = {order.index(server) for order in orders}
            before = {sequence[i - 1] for i, item in enumerate(sequence) if item == server and i > 0}
            assert len(places) >= 2, (count, server, orders)
            assert len(before) >= 2, (count, server, orders)


def test_no_servers_no_turns() -> None:
    assert turn_order(0, 3) == []
