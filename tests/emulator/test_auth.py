"""Auth: a missing or malformed bearer token gets 401001; with a token set, only it passes."""

from __future__ import annotations

import httpx
import pytest

from sora2.emulator import Emulator, SyncASGITransport, create_app

from .helpers import BASE_URL, TOKEN, assert_conforms, path_of, submit, submit_path

MALFORMED = ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", TOKEN, "Bearer two words"]


def _post(app: Emulator, headers: dict[str, str]) -> httpx.Response:
    with httpx.Client(transport=SyncASGITransport(app), base_url=BASE_URL) as http:
        return http.post(submit_path(), json={"prompt": "p"}, headers=headers)


class TestAuth:
    def test_a_missing_token_gets_401(self) -> None:
        """No Authorization header: 401 with error_code 401001, conforming to the spec."""
        response = _post(create_app(), {})
        assert response.status_code == 401
        assert response.json()["error_code"] == 401001
        assert_conforms("submit", response)

    @pytest.mark.parametrize("header", MALFORMED)
    def test_a_malformed_header_gets_401(self, header: str) -> None:
        """Anything but 'Bearer <one token>' gets 401001, even when any token is accepted."""
        response = _post(create_app(), {"Authorization": header})
        assert response.status_code == 401
        assert response.json()["error_code"] == 401001

    def test_any_non_empty_token_passes_without_a_configured_token(self) -> None:
        """Without --token, any bearer token is accepted."""
        assert _post(create_app(), {"Authorization": "Bearer whatever"}).status_code == 200

    def test_the_scheme_is_case_insensitive(self) -> None:
        """'bearer' in lower case is accepted, as RFC 9110 says schemes are case-insensitive."""
        assert _post(create_app(), {"Authorization": "bearer abc"}).status_code == 200

    def test_only_the_configured_token_passes(self) -> None:
        """With a token set, another token gets 401 and the right one gets 200."""
        app = create_app(token=TOKEN)
        wrong = _post(app, {"Authorization": "Bearer not-the-token"})
        assert wrong.status_code == 401
        assert wrong.json()["error_code"] == 401001
        assert _post(app, {"Authorization": f"Bearer {TOKEN}"}).status_code == 200

    @pytest.mark.parametrize("operation_id", ["status", "result", "cancel"])
    def test_every_operation_requires_the_token(
        self, client: httpx.Client, operation_id: str
    ) -> None:
        """status, result and cancel refuse a wrong token before looking the job up."""
        request_id = submit(client)
        method = "GET" if operation_id != "cancel" else "POST"
        response = client.request(
            method,
            path_of(operation_id, request_id),
            headers={"Authorization": "Bearer wrong"},
        )
        assert response.status_code == 401
        assert_conforms(operation_id, response)

    def test_the_token_never_appears_in_answers_or_reprs(self) -> None:
        """Neither error bodies nor the emulator's repr quote the configured token."""
        app = create_app(token=TOKEN)
        wrong = _post(app, {"Authorization": "Bearer not-the-token"})
        assert TOKEN not in wrong.text
        assert TOKEN not in repr(app)
        assert "not-the-token" not in wrong.text

    def test_an_empty_configured_token_is_refused(self) -> None:
        """create_app refuses a blank token instead of silently accepting everyone."""
        with pytest.raises(ValueError, match="token"):
            create_app(token=" ")
