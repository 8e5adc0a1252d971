"""Security settings that need no running service."""

import ssl

from worker.app import make_app
from worker.settings import Settings


def test_rediss_brokers_verify_the_servers_certificate() -> None:
    conf = make_app(Settings(broker_url="rediss://:secret@cache.internal:6380/0")).conf
    assert conf.broker_use_ssl == {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    assert make_app(Settings(broker_url="redis://127.0.0.1:1/0")).conf.broker_use_ssl in (None, False, {})
