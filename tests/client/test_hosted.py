"""check_hosted_file(): the documented rules for file inputs, each failing on its own."""

from __future__ import annotations

import httpx
import pytest

from sora2 import InvalidInputError
from sora2._hosted import check_hosted_file, hosted_file_limits

URL = "https://files.example/input.mp4"


def _transport(
    head: httpx.Response | None, get: httpx.Response | None = None
) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = head if request.method == "HEAD" else get
        if answer is None:
            return httpx.Response(405)
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    return httpx.MockTransport(handler), seen


def _limit(kind: str) -> int:
    return hosted_file_limits()[kind]


def test_kinds_come_from_the_spec() -> None:
    """The spec's Hosted*Url schemas define the kinds and their limits."""
    limits = hosted_file_limits()
    assert {"image", "video"} <= set(limits)
    assert all(limit > 0 for limit in limits.values())


def test_ok_from_head() -> None:
    """A public file under the limit passes on a HEAD alone, with no credentials sent."""
    head = httpx.Response(200, headers={"Content-Length": "1000", "Content-Type": "video/mp4"})
    transport, seen = _transport(head)
    verdict = check_hosted_file(URL, "video", transport=transport)
    assert verdict.ok and verdict.failed_rule is None
    assert (verdict.size, verdict.content_type) == (1000, "video/mp4")
    assert [r.method for r in seen] == ["HEAD"]
    assert all("authorization" not in r.headers and "cookie" not in r.headers for r in seen)


def test_falls_back_to_a_ranged_get() -> None:
    """A host that refuses HEAD is asked for one byte; the total size comes from Content-Range."""
    get = httpx.Response(206, headers={"Content-Range": "bytes 0-0/2048"}, content=b"x")
    transport, seen = _transport(httpx.Response(405), get)
    verdict = check_hosted_file(URL, "image", transport=transport)
    assert verdict.ok and verdict.size == 2048
    assert [r.method for r in seen] == ["HEAD", "GET"]
    assert seen[1].headers["range"] == "bytes=0-0"


@pytest.mark.parametrize("url", ["http://files.example/a.png", "ftp://files.example/a.png", "::"])
def test_https_rule(url: str) -> None:
    """Anything but an https URL fails the https rule without a request."""
    transport, seen = _transport(httpx.Response(200))
    verdict = check_hosted_file(url, "image", transport=transport)
    assert verdict.failed_rule == "https" and not verdict
    assert seen == []


@pytest.mark.parametrize("status", [401, 403])
def test_public_rule(status: int) -> None:
    """A file behind a login fails the public rule, on HEAD and on GET alike."""
    transport, _ = _transport(httpx.Response(status), httpx.Response(status))
    verdict = check_hosted_file(URL, "image", transport=transport)
    assert (verdict.failed_rule, verdict.status_code) == ("public", status)


def test_reachable_rule() -> None:
    """A missing file, or a host that cannot be reached, fails the reachable rule."""
    transport, _ = _transport(httpx.Response(404), httpx.Response(404))
    assert check_hosted_file(URL, "image", transport=transport).failed_rule == "reachable"

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    verdict = check_hosted_file(URL, "image", transport=httpx.MockTransport(refuse))
    assert verdict.failed_rule == "reachable"


def test_size_rule() -> None:
    """A file over its kind's limit fails the size rule and says both numbers."""
    too_big = _limit("image") + 1
    transport, _ = _transport(httpx.Response(200, headers={"Content-Length": str(too_big)}))
    verdict = check_hosted_file(URL, "image", transport=transport)
    assert (verdict.failed_rule, verdict.size, verdict.max_bytes) == (
        "size",
        too_big,
        _limit("image"),
    )
    assert str(too_big) in verdict.message
    assert check_hosted_file(URL, "video", transport=transport).ok


def test_redirect_to_http_fails() -> None:
    """A redirect that ends on plain http fails the https rule."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.scheme == "https":
            return httpx.Response(302, headers={"Location": "http://files.example/a.png"})
        return httpx.Response(200, headers={"Content-Length": "1"})

    verdict = check_hosted_file(URL, "image", transport=httpx.MockTransport(handler))
    assert verdict.failed_rule == "https"


def test_unknown_kind() -> None:
    """A kind the spec does not define is an input error naming the allowed kinds."""
    with pytest.raises(InvalidInputError) as caught:
        check_hosted_file(URL, "audio")
    assert caught.value.field == "kind"
    assert set(hosted_file_limits()) == set(caught.value.allowed or ())


@pytest.mark.parametrize(
    "target",
    [
        "https://127.0.0.1/a.png",
        "https://10.0.0.5/a.png",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/a.png",
        "https://[::ffff:192.168.0.1]/a.png",
    ],
)
def test_a_redirect_into_a_private_address_is_not_followed(target: str) -> None:
    """The URL is the user's, its redirects are not: one into a non-public address fails the
    check without being requested."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "files.example":
            return httpx.Response(302, headers={"Location": target})
        return httpx.Response(200, headers={"Content-Length": "1"})

    verdict = check_hosted_file(URL, "image", transport=httpx.MockTransport(handler))
    assert "reachable" == verdict.failed_rule
    assert "non-public address" in verdict.message
    assert {"files.example"} == {request.url.host for request in seen}


def test_the_users_own_private_host_is_checked() -> None:
    """A URL the user gives on a private address is theirs to choose: it is checked as usual."""
    head = httpx.Response(200, headers={"Content-Length": "10"})
    transport, seen = _transport(head)
    assert check_hosted_file("https://10.0.0.5/a.png", "image", transport=transport).ok
    assert ["10.0.0.5"] == [request.url.host for request in seen]
