"""The download host policy: trusted hosts only, no private address unless asked, on every
download path (generate, download, resume, batch) and every redirect hop."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import httpx
import pytest

from sora2 import AsyncClient, Client, ConfigurationError, DownloadError
from sora2._journal import Journal
from sora2._options import RUNCOMFY_HOST_SUFFIXES, TRUSTED_HOSTS_ENV_VAR
from sora2._spec import operation
from sora2._transports import HostPolicy, is_special_address
from sora2._types import COMPLETED

from .helpers import BASE_URL, TOKEN, Factory, Script, json_response, status_body, submit_body

pytestmark = pytest.mark.anyio

API = httpx.URL("https://model-api.runcomfy.net")
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8
CDN = "https://cdn.runcomfy.net/outputs/req-1/video.mp4"

ISSUE_URLS = [
    "http://127.0.0.1:2375/containers/json",
    "https://127.0.0.1/v.mp4",
    "https://10.0.0.5/v.mp4",
    "https://169.254.169.254/latest/meta-data",
    "https://evil.example.com/v.mp4",
]
"""The output URLs the issue saw fetched and saved as the video."""

SPECIAL = [
    "127.0.0.1",  # loopback
    "127.8.9.10",
    "::1",
    "10.0.0.5",  # private
    "172.16.0.1",
    "192.168.1.1",
    "fd00::1",
    "169.254.169.254",  # link-local (the cloud metadata address)
    "fe80::1",
    "224.0.0.1",  # multicast
    "ff02::1",
    "0.0.0.0",  # unspecified
    "::",
    "100.64.0.1",  # shared (carrier-grade NAT)
    "240.0.0.1",  # reserved
    "::ffff:127.0.0.1",  # IPv4-mapped IPv6
    "::ffff:10.0.0.5",
    "::ffff:169.254.169.254",
]
PUBLIC = ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


def _policy(*trusted: str, base: httpx.URL = API) -> HostPolicy:
    return HostPolicy.for_client(base, trusted, environ={})


def _url_host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


class TestAddresses:
    @pytest.mark.parametrize("address", SPECIAL)
    def test_each_non_public_class_is_special(self, address: str) -> None:
        """Loopback, private, link-local, multicast, unspecified, reserved and mapped addresses
        are not public."""
        assert is_special_address(ipaddress.ip_address(address))

    @pytest.mark.parametrize("address", PUBLIC)
    def test_public_addresses_are_not(self, address: str) -> None:
        """Public IPv4, IPv6 and IPv4-mapped public addresses are ordinary."""
        assert not is_special_address(ipaddress.ip_address(address))

    @pytest.mark.parametrize("address", SPECIAL)
    def test_a_literal_special_address_is_refused(self, address: str) -> None:
        """A URL written with a non-public address, IPv6 literals included, is refused."""
        with pytest.raises(DownloadError, match="refusing"):
            _policy().check_url(f"https://{_url_host(address)}/v.mp4", request_id="r")

    @pytest.mark.parametrize("address", SPECIAL)
    def test_trusting_the_address_itself_allows_it(self, address: str) -> None:
        """An address the user trusts (itself or its network) may be downloaded from."""
        url = f"https://{_url_host(address)}/v.mp4"
        assert str(_policy(address).check_url(url, request_id=None)) == url

    def test_a_trusted_name_does_not_trust_its_private_address(self) -> None:
        """Trusting a name does not let it resolve into the user's network; its network does."""
        loopback = ipaddress.ip_address("127.0.0.1")
        assert not _policy("cdn.example").allows_address("cdn.example", 443, loopback)
        assert _policy("cdn.example", "127.0.0.0/8").allows_address("cdn.example", 443, loopback)
        assert _policy().allows_address("cdn.example", 443, ipaddress.ip_address("8.8.8.8"))


class TestHosts:
    @pytest.mark.parametrize("url", ISSUE_URLS)
    def test_the_issues_urls_are_refused(self, url: str) -> None:
        """Each URL of the issue is refused by a client of the real API."""
        with pytest.raises(DownloadError, match="refusing") as caught:
            _policy().check_url(url, request_id="req-9")
        assert "req-9" == caught.value.request_id

    @pytest.mark.parametrize(
        "url",
        [
            CDN,
            "https://a.b.runcomfy.com/v.mp4",
            "https://runcomfy.net/v.mp4",
            "https://model-api.runcomfy.net/outputs/v.mp4",
        ],
    )
    def test_runcomfys_hosts_are_trusted(self, url: str) -> None:
        """RunComfy's host suffixes and the API's own host are trusted by default."""
        assert url == str(_policy().check_url(url, request_id=None))
        assert {".runcomfy.net", ".runcomfy.com"} == set(RUNCOMFY_HOST_SUFFIXES)

    @pytest.mark.parametrize(
        "url",
        [
            "https://evilruncomfy.net/v.mp4",
            "https://runcomfy.net.evil.example/v.mp4",
            "http://cdn.runcomfy.net/v.mp4",
            "ftp://cdn.runcomfy.net/v.mp4",
            "file:///etc/passwd",
        ],
    )
    def test_lookalikes_and_other_schemes_are_refused(self, url: str) -> None:
        """A suffix matches whole labels only, and RunComfy's hosts are https only."""
        with pytest.raises(DownloadError, match="refusing"):
            _policy().check_url(url, request_id=None)

    def test_the_api_origin_may_be_private_and_plain_http(self) -> None:
        """The emulator or a local proxy as base URL: its own origin downloads, nothing else
        on its address does."""
        policy = _policy(base=httpx.URL("http://127.0.0.1:8000"))
        policy.check_url("http://127.0.0.1:8000/outputs/v.mp4", request_id=None)
        for url in ("http://127.0.0.1:2375/containers/json", "https://127.0.0.1:2375/x"):
            with pytest.raises(DownloadError, match="refusing"):
                policy.check_url(url, request_id=None)
        loopback = ipaddress.ip_address("127.0.0.1")
        assert policy.allows_address("127.0.0.1", 8000, loopback)
        assert not policy.allows_address("127.0.0.1", 2375, loopback)

    @pytest.mark.parametrize(
        ("entry", "url"),
        [
            ("files.example", "https://files.example/v.mp4"),
            ("FILES.example", "http://files.example/v.mp4"),
            (".example.org", "https://a.example.org/v.mp4"),
            ("*.example.org", "https://example.org/v.mp4"),
            ("8.8.8.8", "https://8.8.8.8/v.mp4"),
            ("[::1]", "https://[::1]/v.mp4"),
            ("10.0.0.0/8", "http://10.1.2.3/v.mp4"),
        ],
    )
    def test_trusted_hosts_widen_the_policy(self, entry: str, url: str) -> None:
        """A name, a suffix, an address or a network the user trusts is allowed, http too."""
        with pytest.raises(DownloadError):
            _policy().check_url(url, request_id=None)
        assert url == str(_policy(entry).check_url(url, request_id=None))

    def test_the_environment_adds_trusted_hosts(self) -> None:
        """$SORA2_TRUSTED_HOSTS (commas or spaces) adds to trusted_hosts=."""
        env = {TRUSTED_HOSTS_ENV_VAR: "a.example, b.example 10.0.0.0/8"}
        policy = HostPolicy.for_client(API, ["c.example"], environ=env)
        for host in ("a.example", "b.example", "c.example", "10.9.9.9"):
            policy.check_url(f"https://{host}/v.mp4", request_id=None)

    @pytest.mark.parametrize("entry", ["https://x.example", "x.example:443", "", "a b/c", "."])
    def test_a_bad_entry_is_a_configuration_error(self, entry: str) -> None:
        """An entry that is no host, suffix, address or network is refused, naming it."""
        with pytest.raises(ConfigurationError, match="trusted host"):
            Client(api_key=TOKEN, trusted_hosts=[entry], journal=False)


def _completed(url: str) -> Script:
    """A service whose job completes at once with ``url`` as its video."""
    return (
        Script()
        .on("submit", json_response(200, submit_body("req-1")))
        .on("status", json_response(200, status_body(COMPLETED)))
        .on(
            "result",
            json_response(
                200, {"request_id": "req-1", "status": COMPLETED, "output": {"video": url}}
            ),
        )
    )


def _video(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, headers={"Content-Type": "video/mp4"}, content=VIDEO)


def _off_api(script: Script) -> list[str]:
    return [str(r.url) for r in script.requests if r.url.host != httpx.URL(BASE_URL).host]


class TestEveryPath:
    @pytest.mark.parametrize("url", ISSUE_URLS)
    async def test_generate_refuses_before_fetching(
        self, make_api: Factory, tmp_path: Path, url: str
    ) -> None:
        """generate() refuses each URL of the issue without a request to it: a DownloadError
        carrying the request id and how to fetch the paid result."""
        script = _completed(url)
        script.files[url] = _video
        api = make_api(handler=script)
        with pytest.raises(DownloadError, match="refusing") as caught:
            await api.generate("x", out=tmp_path / "v.mp4")
        assert "req-1" == caught.value.request_id
        assert caught.value.paid_hint is not None and "req-1" in caught.value.paid_hint
        assert (url,) == caught.value.output_urls
        assert [] == _off_api(script)
        assert not (tmp_path / "v.mp4").exists()

    async def test_a_redirect_into_loopback_is_not_followed(
        self, make_api: Factory, tmp_path: Path
    ) -> None:
        """The issue's redirect from RunComfy's CDN to http://127.0.0.1:8080/admin stops at
        the CDN."""
        script = _completed(CDN)
        script.files[CDN] = httpx.Response(302, headers={"Location": "http://127.0.0.1:8080/admin"})
        script.files["http://127.0.0.1:8080/admin"] = _video
        api = make_api(handler=script)
        with pytest.raises(DownloadError, match="refusing"):
            await api.download("req-1", tmp_path / "v.mp4")
        assert [CDN] == _off_api(script)

    @pytest.mark.parametrize("target", ["https://[::1]/x", "https://[::ffff:10.0.0.5]/x"])
    async def test_a_redirect_to_an_ipv6_literal_is_not_followed(
        self, make_api: Factory, tmp_path: Path, target: str
    ) -> None:
        """IPv6 literals, IPv4-mapped ones included, are refused at a redirect hop too."""
        script = _completed(CDN)
        script.files[CDN] = httpx.Response(307, headers={"Location": target})
        api = make_api(handler=script)
        with pytest.raises(DownloadError, match="refusing"):
            await api.download("req-1", tmp_path / "v.mp4")
        assert [CDN] == _off_api(script)

    async def test_the_runcomfy_cdn_still_downloads(
        self, make_api: Factory, tmp_path: Path
    ) -> None:
        """A RunComfy CDN URL downloads as before."""
        script = _completed(CDN)
        script.files[CDN] = _video
        (path,) = await make_api(handler=script).generate("x", out=tmp_path / "v.mp4")
        assert VIDEO == path.read_bytes()

    async def test_trusted_hosts_widens_every_path(self, make_api: Factory, tmp_path: Path) -> None:
        """A host the user trusts downloads through generate, and its copies keep the option."""
        url = "https://evil.example.com/v.mp4"
        script = _completed(url)
        script.files[url] = _video
        api = make_api(handler=script, trusted_hosts=["evil.example.com"])
        (path,) = await api.generate("x", out=tmp_path / "v.mp4")
        assert VIDEO == path.read_bytes()
        assert ("evil.example.com",) == api.client.with_options(max_retries=0).trusted_hosts

    async def test_resume_records_the_refusal_and_goes_on(
        self, make_api: Factory, tmp_path: Path, journal_path: Path
    ) -> None:
        """resume() refuses the URL too: the job's row records why, nothing is fetched."""
        url = "https://169.254.169.254/latest/meta-data"
        script = _completed(url)
        api = make_api(handler=script)
        await api.submit("x")
        (record,) = await api.resume(out_dir=tmp_path)
        assert record.error is not None and "refusing" in record.error
        assert [] == _off_api(script)
        stored = Journal(journal_path).get("req-1")
        assert stored is not None and stored.output_path is None

    async def test_batch_refuses_per_row(self, tmp_path: Path, journal_path: Path) -> None:
        """A batch row whose output is on a refused host fails alone, nothing fetched."""
        url = "https://10.0.0.5/v.mp4"
        script = _completed(url)
        async with AsyncClient(
            TOKEN, base_url=BASE_URL, transport=httpx.MockTransport(script), journal=journal_path
        ) as client:
            summary = await client.batch([{"prompt": "x"}], out_dir=tmp_path / "out")
        (row,) = summary.rows
        assert ("req-1", False) == (row.request_id, summary.ok)
        assert row.error is not None and "refusing" in row.error
        assert [] == _off_api(script)


# The API's own URLs: each request's path joined to the base URL once -----------------------

BASES = [
    "https://model-api.runcomfy.net",
    "https://model-api.runcomfy.net/",
    "https://proxy.example.com/sora/v2",
    "https://proxy.example.com/sora/v2/",
    "http://127.0.0.1:8123",
]
PATHS = ["/v1/requests/req-1/status", "/v1/requests/a%2Fb%20c/result", "v1/models", "/v1/x?y=1"]


@pytest.mark.parametrize("base", BASES)
def test_api_root_joins_as_httpx_does(base: str) -> None:
    """APIRoot's URL of a path is the one httpx builds from the same base URL and path."""
    from sora2._transports import APIRoot

    base = base.rstrip("/")  # as the client strips it
    root = APIRoot(httpx.URL(base))
    with httpx.Client(base_url=base) as client:
        assert client.base_url == root.url
        for path in PATHS:
            assert client.build_request("GET", path).url == root.join(path)
        absolute = "https://elsewhere.example.com/a"
        assert httpx.URL(absolute) == root.join(absolute)


def test_api_root_parses_each_path_once_and_keeps_a_bounded_number() -> None:
    """A path asked again gets the URL parsed the first time; past KEPT paths the oldest go."""
    from sora2._transports import APIRoot

    root = APIRoot(API)
    first = root.join(PATHS[0])
    assert first is root.join(PATHS[0])
    for n in range(APIRoot.KEPT + 1):
        root.join(f"/v1/requests/req-{n}/status")
    assert len(root._joined) <= APIRoot.KEPT
    assert first == root.join(PATHS[0])


async def test_requests_go_under_a_base_url_with_a_path(make_api: Factory) -> None:
    """A base URL with a path prefix: every call goes under it, with the token, as before."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "POST":
            return json_response(200, submit_body())
        return json_response(200, status_body(COMPLETED))

    api = make_api(handler=answer, base_url="https://proxy.example.com/sora/")
    await api.submit("x")
    await api.status("req-1")
    await api.status("req-1")
    assert {"proxy.example.com"} == {r.url.host for r in seen}
    assert all(r.url.path.startswith("/sora/") for r in seen)
    assert {f"Bearer {TOKEN}"} == {r.headers.get("Authorization") for r in seen}
    status_path = operation("status").url_path(request_id="req-1")
    polls = [r.url for r in seen if r.method == "GET" and r.url.path.endswith(status_path)]
    assert [httpx.URL("https://proxy.example.com/sora" + status_path)] * 2 == polls
