"""kbmc.redact: credentials in URLs parsed as Go does, flags registered, ordinary text left intact."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kbmc import redact


@pytest.fixture(autouse=True)
def clean() -> Iterator[None]:
    redact.forget_all()
    yield
    redact.forget_all()


# Passwords Go's net/url reads up to the last '@' of the authority, or that stop a naive pattern ('/', "'", '@').
URLS = {
    "quote": ("https://alice:s3cr'et99@10.0.0.5:6443", "s3cr'et99"),
    "at": ("https://alice:p@ss@word99@10.0.0.5:6443", "p@ss@word99"),
    "slash": ("http://alice:pa/ssw0rd99@127.0.0.2:3128", "pa/ssw0rd99"),
    "percent": ("https://alice:pa%40ss-w0rd@10.0.0.5:6443", "pa@ss-w0rd"),
}


@pytest.mark.parametrize("case", list(URLS))
def test_registered_url_credentials_never_show(case: str) -> None:
    url, password = URLS[case]
    redact.register_url(f"k8s-1={url}")  # as a --server flag carries it
    for message in (f"--server 'k8s-1={url}' is not valid", f"proxy {url!r} refused", repr({"server": url}),
                    f'invalid port ":{password.split("/")[0]}" after host; {password}', f"user {password}"):
        shown = redact.text(message)
        assert password not in shown and password.split("@")[-1] not in shown, shown


@pytest.mark.parametrize("case", list(URLS))
def test_url_pattern_covers_unregistered_user_info(case: str) -> None:
    url, password = URLS[case]
    shown = redact.text(f"dialing {url} failed")
    assert password not in shown and "REDACTED@" in shown, shown
    assert shown.endswith("failed") and ("https://" in shown or "http://" in shown)


def test_weak_values_are_replaced_only_as_tokens_of_their_own() -> None:
    redact.register("kubeblocks")
    assert redact.text("apiVersion: apps.kubeblocks.io/v1alpha1") == "apiVersion: apps.kubeblocks.io/v1alpha1"
    assert redact.text("kubeblocks-cloud and mykubeblocks") == "kubeblocks-cloud and mykubeblocks"
    assert redact.text("Deployment kb-system/kubeblocks (x)") == "Deployment kb-system/kubeblocks (x)"
    assert redact.text("admin:kubeblocks@h") == "REDACTED@h"
    assert redact.text("the password kubeblocks.") == "the password REDACTED."
    assert redact.text("{'password': 'kubeblocks'}") == "{'password': 'REDACTED'}"


def test_strong_values_are_replaced_anywhere_and_short_ones_never() -> None:
    redact.register("Xy7-9fQ2")  # four character classes
    redact.register("abc12")  # too short to be worth it
    assert redact.text("prefixXy7-9fQ2suffix abc12") == "prefixREDACTEDsuffix abc12"


def test_the_cli_registers_urls_given_as_flags(capsys: pytest.CaptureFixture[str]) -> None:
    from kbmc.cli.main import main

    with pytest.raises(SystemExit):
        main(["env", "prepare", "--context", "nope", "--server", "k8s-1=https://alice:s3cr'et99@10.0.0.5:6443",
              "--dry-run"])
    assert "s3cr'et99" not in redact.text("s3cr'et99 in any later message")
