import pytest

from chargehook.plumbing.errors import ConfigError
from chargehook.plumbing.settings import load_settings


def test_environment_is_read_typed_and_flags_override_it() -> None:
    settings = load_settings(
        {"CHARGEHOOK_HTTP_PORT": "9000", "CHARGEHOOK_ALLOW_PRIVATE_URLS": "true", "HOME": "/x"},
        {"http_port": "9100"},
    )
    assert settings.http_port == 9100 and settings.allow_private_urls is True
    assert settings.embedded


def test_defaults_are_the_documented_ones() -> None:
    settings = load_settings({})
    assert (settings.http_host, settings.http_port, settings.allow_private_urls) == (
        "127.0.0.1",
        8080,
        False,
    )


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"CHARGEHOOK_PERSIST_BATCH_SIZE": "0"},
            "CHARGEHOOK_PERSIST_BATCH_SIZE: Expected `int` >= 1",
        ),
        ({"CHARGEHOOK_LOG_FORMAT": "xml"}, "CHARGEHOOK_LOG_FORMAT: Invalid enum value 'xml'"),
        ({"CHARGEHOOK_HTTP_PROT": "1"}, "unknown setting CHARGEHOOK_HTTP_PROT"),
        (
            {"CHARGEHOOK_ADMIN_TOKEN": "CHANGE_ME"},
            "CHARGEHOOK_ADMIN_TOKEN: Expected `str` of length >= 32",
        ),
    ],
)
def test_bad_settings_are_one_clear_line(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ)
    assert str(caught.value).startswith(message)
