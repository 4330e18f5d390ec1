"""The Key Vault secret cache: one read per secret per TTL, bounded, least recently used dropped first."""

from datetime import UTC, datetime
from types import SimpleNamespace

from shared.retry import Deadline, Retrier, RetryPolicy
from shared.secrets import MAX_CACHED_SECRETS, KeyVaultSecrets


class CountingClient:
    """A stand-in for SecretClient.get_secret that counts reads per name."""

    def __init__(self) -> None:
        self.reads: dict[str, int] = {}

    def get_secret(self, name: str) -> SimpleNamespace:
        self.reads[name] = self.reads.get(name, 0) + 1
        return SimpleNamespace(value=f"value-of-{name}", properties=SimpleNamespace(version=str(self.reads[name])))


def make(ttl: float) -> tuple[KeyVaultSecrets, CountingClient, list[float]]:
    clock = [0.0]
    client = CountingClient()
    retrier = Retrier(
        RetryPolicy(),
        monotonic=lambda: clock[0],
        wall_clock=lambda: datetime.now(UTC),
        sleep=lambda s: None,
        jitter=lambda: 0.0,
    )
    secrets = KeyVaultSecrets(client, vault_url="https://kv", ttl=ttl, retrier=retrier, monotonic=lambda: clock[0])  # type: ignore[arg-type]
    return secrets, client, clock


def test_one_read_per_ttl_and_invalidate() -> None:
    secrets, client, clock = make(ttl=300)
    deadline = Deadline(lambda: clock[0], 60)
    for _ in range(5):
        assert secrets.get("adobe-client-secret", deadline).value.reveal() == "value-of-adobe-client-secret"
    assert client.reads == {"adobe-client-secret": 1}
    clock[0] = 299.0
    secrets.get("adobe-client-secret", deadline)
    assert client.reads["adobe-client-secret"] == 1
    clock[0] = 300.5
    assert secrets.get("adobe-client-secret", deadline).version == "2"
    secrets.invalidate("ADOBE-CLIENT-SECRET")
    secrets.get("adobe-client-secret", deadline)
    assert client.reads["adobe-client-secret"] == 3


def test_bounded_and_the_hot_secret_stays() -> None:
    secrets, client, clock = make(ttl=300)
    deadline = Deadline(lambda: clock[0], 60)
    for i in range(MAX_CACHED_SECRETS * 3):
        secrets.get("adobe-client-secret", deadline)  # used by every invocation
        secrets.get(f"eventhubs-sas-namespace-{i:04d}", deadline)
    assert client.reads["adobe-client-secret"] == 1
    assert len(secrets._cache) == MAX_CACHED_SECRETS
