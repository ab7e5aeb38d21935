"""A server that faces a network: token, Host allowlist, foreign Origins, rate limit (web/guard.py),
through the real app; and `impasto serve` making up a token beyond loopback."""

from __future__ import annotations

import pytest

from impasto.cli.serve import _serve
from impasto.web.guard import COOKIE

from .conftest import app_client, idle_client, upload

TOKEN = "s3cret-token"


@pytest.fixture
def guarded(tmp_path):
    with app_client(tmp_path / "data", token=TOKEN) as client:
        yield client


def test_without_the_token_every_request_is_401(guarded) -> None:
    for path in ("/", "/api/jobs", "/api/options", "/static/app.js"):
        response = guarded.get(path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer"
        assert "needs its token" in response.json()["detail"]
    assert guarded.get("/api/jobs", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert guarded.get("/api/jobs", params={"token": "wrong"}).status_code == 401


def test_the_token_opens_the_api_as_bearer_or_link_whose_cookie_then_serves_the_page(guarded) -> None:
    assert guarded.get("/api/jobs", headers={"Authorization": f"Bearer {TOKEN}"}).json() == {"jobs": []}
    assert COOKIE not in guarded.cookies
    page = guarded.get("/", params={"token": TOKEN})
    assert page.status_code == 200 and "<html" in page.text.lower()
    cookie = page.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}={TOKEN};") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert guarded.get("/api/options").status_code == 200, "the cookie is enough from now on"


def test_only_ip_addresses_localhost_and_allowed_names_are_answered(tmp_path) -> None:
    with app_client(tmp_path / "data", allowed_hosts=("studio.example",)) as client:
        for host in ("localhost:8000", "127.0.0.1:8000", "[::1]:8000", "192.168.1.20", "studio.example:8000"):
            assert client.get("/api/options", headers={"Host": host}).status_code == 200, host
        refused = client.get("/api/jobs", headers={"Host": "attacker.example:8000"})
        assert refused.status_code == 403
        assert refused.json()["detail"] == ("this server does not answer to the name 'attacker.example': open it by "
                                            "its IP address or localhost, or start it with --allowed-host "
                                            "attacker.example")


def test_a_foreign_origin_may_not_change_anything(client, photo, painting) -> None:
    foreign = {"Origin": "http://attacker.example"}
    refused = client.post("/api/jobs", headers=foreign, **upload(photo, painting))
    assert refused.status_code == 403 and "another site" in refused.json()["detail"]
    assert client.get("/api/jobs").json() == {"jobs": []}, "nothing was created"
    job = client.post("/api/jobs", headers={"Origin": "http://localhost"}, **upload(photo, painting)).json()
    assert client.get(f"/api/jobs/{job['id']}", headers=foreign).status_code == 200, "reading is not changing"
    assert client.delete(f"/api/jobs/{job['id']}", headers=foreign).status_code == 403
    assert client.post(f"/api/jobs/{job['id']}/cancel", headers={"Origin": "null"}).status_code == 403
    assert client.get(f"/api/jobs/{job['id']}").json()["status"] in ("queued", "running", "done")


def test_job_creation_is_rate_limited_per_client(tmp_path, photo, painting) -> None:
    with app_client(tmp_path / "data", rate_limit=2) as client:
        for _ in range(2):
            assert client.post("/api/jobs", **upload(photo, painting)).status_code == 201
        refused = client.post("/api/jobs", **upload(photo, painting))
        assert refused.status_code == 429
        assert refused.json()["detail"].startswith("at most 2 new jobs a minute from one address: try again in ")
        assert 0 < int(refused.headers["retry-after"]) <= 60
        assert client.get("/api/jobs").status_code == 200, "reading is not limited"


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_rate_limit(tmp_path, photo, painting) -> None:
    def post(client, forwarded_for: str) -> int:
        headers = {"X-Forwarded-For": forwarded_for}
        return client.post("/api/jobs", headers=headers, **upload(photo, painting)).status_code

    proxy = idle_client(tmp_path / "data", peer="10.0.0.2", rate_limit=1, trusted_proxies=("10.0.0.0/24",))
    assert post(proxy, "203.0.113.5") == 201
    assert post(proxy, "203.0.113.5") == 429
    assert post(proxy, "203.0.113.6, 10.0.0.7") == 201, "the right-most address that is not a trusted proxy counts"
    assert post(proxy, "198.51.100.1, 203.0.113.6") == 429, "what the client itself wrote in front counts for nothing"

    untrusted = idle_client(tmp_path / "direct", peer="10.0.0.2", rate_limit=1)
    assert post(untrusted, "203.0.113.5") == 201
    assert post(untrusted, "203.0.113.6") == 429, "a peer that is not a trusted proxy is its own client"


@pytest.mark.parametrize(("peer", "scheme", "forwarded_proto", "secure"), [
    ("10.0.0.9", "http", None, False),
    ("10.0.0.9", "https", None, True),  # TLS to the server itself
    ("10.0.0.2", "http", "https", True),  # TLS to the trusted proxy
    ("10.0.0.9", "http", "https", False),  # anyone may send the header
])
def test_the_cookie_is_secure_when_the_request_came_over_https(tmp_path, peer, scheme, forwarded_proto,
                                                               secure) -> None:
    client = idle_client(tmp_path / "data", peer=peer, scheme=scheme, token=TOKEN, trusted_proxies=("10.0.0.2",))
    headers = {"X-Forwarded-Proto": forwarded_proto} if forwarded_proto else {}
    page = client.get("/", params={"token": TOKEN}, headers=headers)
    assert page.status_code == 200
    assert page.headers["set-cookie"].endswith("; Secure") == secure


def test_serve_beyond_loopback_makes_up_a_token(tmp_path, monkeypatch) -> None:
    started = {}
    monkeypatch.setattr("impasto.web.server.serve", lambda settings: started.setdefault("settings", settings))
    from impasto.cli import build_parser

    _serve(build_parser().parse_args(["serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path)]))
    token = started.pop("settings").token
    assert token is not None and len(token) >= 32
    _serve(build_parser().parse_args(["serve", "--data-dir", str(tmp_path)]))
    assert started["settings"].token is None, "on loopback, as before: no token unless given"


@pytest.mark.parametrize("options", [["--trusted-proxy", "127.0.0.1", "--allowed-host", "studio.example.org"],
                                     ["--trusted-proxy", "127.0.0.1"], ["--allowed-host", "studio.example.org"]])
def test_serve_on_loopback_behind_a_proxy_or_under_a_name_makes_up_a_token(tmp_path, monkeypatch, options) -> None:
    """A TLS proxy on the same host reaches a loopback server from the network: it needs a token too."""
    started = {}
    monkeypatch.setattr("impasto.web.server.serve", lambda settings: started.setdefault("settings", settings))
    from impasto.cli import build_parser

    _serve(build_parser().parse_args(["serve", "--data-dir", str(tmp_path), *options]))
    settings = started["settings"]
    assert settings.token is not None and len(settings.token) >= 32
    client = idle_client(tmp_path / "data", peer="127.0.0.1", token=settings.token,
                         trusted_proxies=settings.trusted_proxies, allowed_hosts=settings.allowed_hosts)
    proxied = {"Host": "studio.example.org", "X-Forwarded-For": "203.0.113.5"}
    assert client.get("/api/jobs", headers=proxied if settings.allowed_hosts else {}).status_code == 401


def test_no_page_of_another_site_may_frame_the_app_and_it_loads_only_its_own_files(guarded) -> None:
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    answers = [guarded.get("/", params={"token": TOKEN}), guarded.get("/api/jobs", headers=bearer),
               guarded.get("/static/app.js", headers=bearer), guarded.get("/api/jobs"),  # a 401 too
               guarded.get("/api/jobs/nope", headers=bearer)]
    for answer in answers:
        assert answer.headers["x-frame-options"] == "DENY", answer.url
        policy = answer.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "default-src 'self'" in policy and "http" not in policy
        assert answer.headers["referrer-policy"] == "no-referrer"
    assert guarded.get("/docs", headers=bearer).status_code == 404, "with a token: no docs from elsewhere"
    assert guarded.get("/api/options", headers=bearer).json()["docs"] is None
    assert guarded.get("/openapi.json", headers=bearer).json()["info"]["title"] == "impasto"


def test_the_docs_of_a_server_without_a_token_load_a_pinned_swagger_checked_by_its_hash(client) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200 and client.get("/api/options").json()["docs"] == "/docs"
    scripts = [line for line in docs.text.splitlines() if "https://" in line]
    assert scripts and all("swagger-ui-dist@5.36.0/" in line for line in scripts)
    assert docs.text.count('integrity="sha384-') == 2
    assert "script-src 'self' https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.36.0/;" in \
        docs.headers["content-security-policy"]
