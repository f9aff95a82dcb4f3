"""nginx in front of the real gunicorn, with the repository's own configuration (deploy/nginx).

Starts Debian's nginx on loopback (installing it when missing and running as root) with
crm-log.conf and crm-proxy.conf included as production includes them, over plain HTTP; the
full TLS site (crm.conf) is checked with `nginx -t` and a certificate made here.
"""

import http.client
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from callbacks.models import CallbackEvent
from campaigns.models import FormSubmission, Kind
from tests.conftest import database_url
from tests.server import ROOT, free_port, gunicorn

pytestmark = pytest.mark.slow
DEPLOY = ROOT / "deploy/nginx"


def nginx_binary() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "-qq", "nginx"], env=env, **quiet)
        found = shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if not found:
        if os.environ.get("REQUIRE_NGINX") == "1":
            pytest.fail("nginx is missing and REQUIRE_NGINX=1")
        pytest.skip("nginx is missing and cannot be installed (apt-get install nginx)")
    return found


def main_config(tmp: Path, http_block: str) -> Path:
    """A top-level nginx.conf that keeps every file nginx writes under `tmp`."""
    for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / name).mkdir(exist_ok=True)
    # As root, workers would run as nobody, who may not write under pytest's private tmp.
    user = "user root;" if os.geteuid() == 0 else ""
    config = tmp / "nginx.conf"
    config.write_text(
        f"""{user}
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
{http_block}
}}
"""
    )
    return config


def nginx_test(nginx: str, config: Path, tmp: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [nginx, "-t", "-c", str(config), "-p", str(tmp), "-e", str(tmp / "error.log")],
        capture_output=True,
        text=True,
    )


def test_the_production_site_passes_nginx_t(tmp_path):
    nginx = nginx_binary()
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=crm.example.com", "-keyout", str(tmp_path / "privkey.pem")]
        + ["-out", str(tmp_path / "fullchain.pem")],
        check=True,
        capture_output=True,
    )
    # Only the paths outside the repository change: snippets, certificates, logs.
    site = (
        (DEPLOY / "crm.conf")
        .read_text()
        .replace("/etc/nginx/snippets/", f"{DEPLOY}/")
        .replace("/etc/letsencrypt/live/crm.example.com/", f"{tmp_path}/")
        .replace("/var/log/nginx/", f"{tmp_path}/")
    )
    config = main_config(tmp_path, site)

    result = nginx_test(nginx, config, tmp_path)

    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


@pytest.fixture(scope="module")
def proxied(tmp_path_factory, django_db_setup, django_db_blocker):
    """nginx (crm-proxy.conf) in front of gunicorn with TRUSTED_PROXY_COUNT=1: its base URL."""
    nginx = nginx_binary()
    tmp = tmp_path_factory.mktemp("nginx")
    with django_db_blocker.unblock():
        url = database_url()
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_LOCAL": "1", "TRUSTED_PROXY_COUNT": "1"}
    with gunicorn(env, "--workers", "2") as (_proc, app_url):
        port = free_port()
        config = main_config(
            tmp,
            f"""
    include {DEPLOY}/crm-log.conf;
    access_log {tmp}/access.log crm_redacted;
    upstream crm_app {{ server {app_url.removeprefix("http://")}; keepalive 16; }}
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        include {DEPLOY}/crm-proxy.conf;
    }}
""",
        )
        assert nginx_test(nginx, config, tmp).returncode == 0
        proc = subprocess.Popen(
            [nginx, "-c", str(config), "-p", str(tmp), "-e", str(tmp / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(port, proc)
            address = f"127.0.0.1:{port}"
            # Each worker's first callback loads the URLs and connects to the database.
            for _ in range(12):
                assert get(address, "/callbacks/unknown/poll/").startswith(b"HTTP/1.1 404")
            yield address, tmp
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def wait_for_port(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.05)


@pytest.fixture
def via_nginx(proxied, transactional_db):
    return proxied


def answer(sock: socket.socket) -> bytes:
    sock.settimeout(10)
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def raw(address: str, data: bytes, source: str = "127.0.0.1") -> bytes:
    """Send bytes to nginx from a given loopback address; return all it answers."""
    host, port = address.split(":")
    with socket.create_connection((host, int(port)), timeout=10, source_address=(source, 0)) as s:
        s.sendall(data)
        return answer(s)


def get(address: str, path: str, **headers: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: localhost", "Connection: close"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return raw(address, ("\r\n".join(lines) + "\r\n\r\n").encode())


VOTE = "?mobile=2125551212&key=FB1&reply=A&label=Tampa"


def test_slow_clients_do_not_delay_a_callback(via_nginx, endpoint):
    address, _tmp = via_nginx
    host, port = address.split(":")
    path = endpoint.url_path(Kind.POLL)
    slow = [socket.create_connection((host, int(port))) for _ in range(64)]
    stop = threading.Event()

    def trickle():
        # Each slow client sends its request line one byte every 2 s.
        line = f"GET {path}{VOTE} HTTP/1.1\r\n".encode()
        for i in range(len(line)):
            for s in slow:
                s.send(line[i : i + 1])
            if stop.wait(2):
                return

    sender = threading.Thread(target=trickle)
    sender.start()
    try:
        time.sleep(3)  # every slow client has started and is mid-request
        waits = []
        for _ in range(5):
            started = time.monotonic()
            reply = get(address, f"{path}{VOTE}")
            waits.append(time.monotonic() - started)
            assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"\r\n\r\nOK"), reply
    finally:
        stop.set()
        sender.join()
        for s in slow:
            s.close()

    assert max(waits) < 1.0, waits
    assert CallbackEvent.objects.count() == 5


def test_a_chunked_callback_body_arrives_whole(via_nginx, endpoint):
    address, _tmp = via_nginx
    chunks = [b"country=USA&shortcode=84700&", b"key=SOMEKEY&mobile=2125551212&"]
    chunks += [b"carrierId=VERIZONUS&Name=Bill&", b"DOB=1%2F1%2F2000&Zip=10024"]
    conn = http.client.HTTPConnection(address, timeout=10)

    def body():
        for chunk in chunks:
            yield chunk
            time.sleep(0.2)

    conn.request(
        "POST",
        endpoint.url_path(Kind.FORM),
        body=body(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        encode_chunked=True,
    )
    response = conn.getresponse()

    assert (response.status, response.read()) == (200, b"OK")
    assert CallbackEvent.objects.get().body == b"".join(chunks).decode()
    assert FormSubmission.objects.get().fields == {
        "Name": "Bill",
        "DOB": "1/1/2000",
        "Zip": "10024",
    }


def nginx_refusal(reply: bytes, status: bytes) -> None:
    """An error page nginx wrote itself: gunicorn never saw the request."""
    assert reply.startswith(b"HTTP/1.1 " + status), reply[:200]
    assert b"<hr><center>nginx" in reply


def test_oversized_requests_are_answered_by_nginx(via_nginx, endpoint):
    address, _tmp = via_nginx
    path = endpoint.url_path(Kind.INFO)

    nginx_refusal(get(address, f"{path}?lead=HOURS&mobile=2125551212&msg={'x' * 9000}"), b"414")
    nginx_refusal(get(address, f"{path}?lead=HOURS", X_Padding="p" * 9000), b"400")
    # A callback body over 64 KB is refused from its Content-Length, before it is sent.
    head = (
        f"POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 70000\r\n\r\n"
    )
    nginx_refusal(raw(address, head.encode()), b"413")

    assert CallbackEvent.objects.count() == 0


def test_the_app_sees_the_client_through_the_proxy_not_a_header_it_sent(via_nginx, endpoint):
    address, tmp = via_nginx
    request = (
        f"GET {endpoint.url_path(Kind.POLL)}{VOTE} HTTP/1.1\r\nHost: localhost\r\n"
        "X-Forwarded-For: 203.0.113.9\r\nConnection: close\r\n\r\n"
    )

    # nginx itself calls gunicorn from 127.0.0.1; this client comes from 127.0.0.2.
    reply = raw(address, request.encode(), source="127.0.0.2")

    assert reply.startswith(b"HTTP/1.1 200"), reply
    assert CallbackEvent.objects.get().remote_addr == "127.0.0.2"
    log = (tmp / "access.log").read_text()
    assert (
        "/callbacks/<token>/poll/" in log and endpoint.token not in log and "2125551212" not in log
    )
