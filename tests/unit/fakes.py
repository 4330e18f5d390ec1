"""Test doubles of the outside world shared by unit tests (never of the project's own code)."""


class FakeTime:
    """A monotonic clock that advances only when `sleep` is called, and records each sleep."""

    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds
