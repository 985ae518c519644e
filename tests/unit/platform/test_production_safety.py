"""Safe by default (issue 10, item 6): dev tokens only in development and only while no
tokens are issued; production refuses dev secrets and ingest tokens without agencies, naming
the setting and never the value; the operate scope; failed logins limited per address."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from shared.platform.auth import FailureLimiter
from shared.platform.config import (
    DEV_ADMIN_TOKEN,
    DEV_INGEST_TOKEN,
    DEV_READ_TOKEN,
    DEV_WEBHOOK_SECRET,
    IngestToken,
    Settings,
    token_book,
)
from shared.platform.safety import production_problems
from shared.platform.tokens import TokenSpec, digest

OWN = "a-token-of-our-own-0001"


@pytest.fixture(autouse=True)
def _no_egov_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("EGOV_"):
            monkeypatch.delenv(key)


def names(settings: Settings) -> set[str]:
    return {s.name for s in token_book(settings).specs}


def test_dev_tokens_exist_only_in_development_without_issued_tokens() -> None:
    dev = Settings()
    assert dev.env == "development"
    book = token_book(dev)
    for token in (DEV_INGEST_TOKEN, DEV_READ_TOKEN, DEV_ADMIN_TOKEN):
        assert book.identify(token) is not None, token
    assert dev.ingest_tokens["demo-source"].agencies == ["*"]
    assert dev.webhook_secret is not None
    assert dev.webhook_secret.get_secret_value() == DEV_WEBHOOK_SECRET

    issued = [TokenSpec(name="x", sha256=digest(OWN), scopes=["read"])]
    with_issued = Settings(tokens=issued, read_token=SecretStr(DEV_READ_TOKEN))
    book = token_book(with_issued)
    assert book.identify(OWN) is not None
    for token in (DEV_INGEST_TOKEN, DEV_READ_TOKEN, DEV_ADMIN_TOKEN):
        assert book.identify(token) is None, token  # not even when set explicitly

    prod = Settings(env="production")
    assert prod.read_token is None and prod.admin_token is None and prod.ingest_tokens == {}
    assert prod.webhook_secret is None and names(prod) == set()
    explicit = Settings(env="production", read_token=SecretStr(DEV_READ_TOKEN))
    assert token_book(explicit).identify(DEV_READ_TOKEN) is None


def test_production_refuses_dev_secrets_naming_the_setting_never_the_value() -> None:
    settings = Settings(
        env="production",
        ingest_tokens={"demo-source": IngestToken(token=SecretStr(DEV_INGEST_TOKEN))},
        read_token=SecretStr(DEV_READ_TOKEN),
        admin_token=SecretStr(DEV_ADMIN_TOKEN),
        webhook_secret=SecretStr(DEV_WEBHOOK_SECRET),
        tokens=[TokenSpec(name="cu", sha256=digest(DEV_READ_TOKEN), scopes=["read"])],
    )
    problems = production_problems(settings, signs_webhooks=True)
    assert problems == [
        "EGOV_INGEST_TOKENS (source 'demo-source') is a development value (set it to a secret "
        "of your own)",
        "EGOV_INGEST_TOKENS (source 'demo-source') has no agency list (give \"agencies\": "
        '[...], or ["*"] for every agency)',
        "EGOV_READ_TOKEN is a development value (set it to a secret of your own)",
        "EGOV_ADMIN_TOKEN is a development value (set it to a secret of your own)",
        "EGOV_TOKENS (token 'cu') is the digest of a development token",
        "EGOV_WEBHOOK_SECRET is a development value (set it to a secret of your own)",
    ]
    text = "\n".join(problems)
    assert not any(v in text for v in (DEV_INGEST_TOKEN, DEV_READ_TOKEN, DEV_ADMIN_TOKEN))


def test_production_webhook_secret_required_where_webhooks_are_signed() -> None:
    bare = Settings(env="production")
    assert production_problems(bare) == []  # ingest, api, calculator sign nothing
    assert production_problems(bare, signs_webhooks=True) == [
        "EGOV_WEBHOOK_SECRET is empty (set it to a secret of your own)"
    ]
    short = Settings(env="production", webhook_secret=SecretStr("abc"))
    assert production_problems(short, signs_webhooks=True) == [
        "EGOV_WEBHOOK_SECRET is shorter than 16 characters"
    ]


def test_production_ingest_tokens_need_agencies() -> None:
    no_list = TokenSpec(name="his", sha256=digest(OWN), scopes=["ingest"], sources=["his"])
    settings = Settings(env="production", tokens=[no_list])
    assert production_problems(settings) == [
        "EGOV_TOKENS (token 'his') has the ingest scope but no agency list "
        '("agencies": [...] or ["*"])'
    ]
    listed = no_list.model_copy(update={"agencies": ["so-y-te"]})
    everyone = IngestToken(token=SecretStr(OWN + "-dvc"), agencies=["*"])
    ok = Settings(
        env="production",
        tokens=[listed],
        ingest_tokens={"cong-dvc": everyone},
        webhook_secret=SecretStr("w" * 32),
    )
    assert production_problems(ok, signs_webhooks=True) == []
    book = token_book(ok)
    his = book.identify(OWN)
    assert his is not None and his.allows_agency("so-y-te") and not his.allows_agency("so-tc")
    dvc = book.identify(OWN + "-dvc")
    assert dvc is not None and dvc.allows_agency("so-tc") and dvc.sources == ["cong-dvc"]


def test_ingest_tokens_env_forms(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "EGOV_INGEST_TOKENS",
        '{"qlvb": "tok-bare", "his": {"token": "tok-his", "agencies": ["so-y-te"]}}',
    )
    settings = Settings()
    assert settings.ingest_tokens["qlvb"].agencies == []
    assert settings.ingest_tokens["his"].agencies == ["so-y-te"]
    his = token_book(settings).identify("tok-his")
    assert his is not None and his.agencies == ["so-y-te"] and his.scopes == ["ingest"]


def test_scopes_admin_implies_read_and_operate() -> None:
    def spec(*scopes: str) -> TokenSpec:
        return TokenSpec.model_validate({"name": "t", "sha256": "0" * 64, "scopes": scopes})

    assert not spec("read").allows("operate")
    assert spec("operate").allows("operate") and not spec("operate").allows("admin")
    admin = spec("admin")
    assert admin.allows("read") and admin.allows("operate") and not admin.allows("ingest")
    dev = token_book(Settings()).identify(DEV_ADMIN_TOKEN)
    assert dev is not None and dev.allows("operate")
    read = token_book(Settings()).identify(DEV_READ_TOKEN)
    assert read is not None and not read.allows("operate")


def test_failure_limiter_window() -> None:
    limiter = FailureLimiter(3, window_s=60)
    for t in (0.0, 1.0, 2.0):  # three different guesses
        assert limiter.retry_after("10.0.0.1", f"guess-{t}", t) is None
        limiter.failed("10.0.0.1", f"guess-{t}", t)
    assert limiter.retry_after("10.0.0.1", "another", 3.0) == pytest.approx(57.0)
    assert limiter.retry_after("10.0.0.2", "another", 3.0) is None  # per address
    assert limiter.retry_after("10.0.0.1", "another", 60.5) is None  # the first one left


def test_production_refuses_smtp_credentials_without_tls() -> None:
    """Issue 20, item 11: a mail password would cross the network in clear."""
    creds = {"smtp_username": "canhbao", "smtp_password": SecretStr("mat-khau-thu-dien-tu")}
    plain = Settings(env="production", smtp_starttls=False, **creds)  # type: ignore[arg-type]
    assert production_problems(plain) == [
        "EGOV_SMTP_USERNAME / EGOV_SMTP_PASSWORD are set but EGOV_SMTP_STARTTLS is false "
        "(the mail password would cross the network unencrypted)"
    ]
    assert "mat-khau" not in "\n".join(production_problems(plain))
    only_password = Settings(env="production", smtp_password=SecretStr("mat-khau-thu-dien-tu"))
    assert len(production_problems(only_password)) == 1
    assert production_problems(Settings(env="production", smtp_starttls=True, **creds)) == []  # type: ignore[arg-type]
    assert production_problems(Settings(env="production")) == []  # no credentials: a relay
    assert production_problems(Settings(smtp_starttls=False, **creds)) == []  # type: ignore[arg-type]


def test_an_issued_ingest_token_without_sources_writes_only_its_own_name() -> None:
    """Issue 20, item 11: each invented source would be a new source to fall silent."""
    spec = TokenSpec(name="cong-dvc", sha256=digest(OWN), scopes=["ingest"], agencies=["*"])
    assert spec.allows_source("cong-dvc") and not spec.allows_source("nguon-gia-1")
    listed = spec.model_copy(update={"sources": ["qlvb-a", "qlvb-b"]})
    assert listed.allows_source("qlvb-b") and not listed.allows_source("cong-dvc")
    assert spec.default_source == "cong-dvc" and listed.default_source == "qlvb-a"
