"""The cluster drill's figures of a fault (bench.drills), from the times of the 200s and the
work queues' samples."""

from bench.drills import drained_after, without_a_200


def test_the_drills_figures_of_a_fault() -> None:
    """bench.drills: the longest wait for a 200 across a fault, and how long until the queues
    were empty again after the most they held."""
    answered = [1.0, 2.0, 2.5, 6.0, 6.1, 20.0]
    assert without_a_200(answered, 3.0, 5.0) == 3.5  # from 2.5 to 6.0
    samples = [(3.0, 0), (3.5, 40), (4.0, 90), (4.5, 10), (5.0, 0), (9.0, 0)]
    assert drained_after(samples, 3.0, 8.0, float("inf")) == (2.0, 90)
    assert drained_after(samples, 3.0, 3.2, 3.2) == (0.0, 0)  # cut at the next fault: none
    assert drained_after([(3.0, 5)], 3.0, 8.0, float("inf")) is None
