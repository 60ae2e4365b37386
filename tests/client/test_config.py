"""Where the client's settings come from: the environment, else the TOML file; credentials
from one source only; a readable secret file refused; nothing secret in a repr."""

from __future__ import annotations

import pytest

from opsjobs.client import ClientConfig, ConfigError


def write(path, text: str, mode: int = 0o600):
    path.write_text(text)
    path.chmod(mode)
    return path


def test_the_file_is_read_from_the_xdg_directory(tmp_path):
    folder = tmp_path / "opsjobs"
    folder.mkdir()
    write(
        folder / "client.toml", 'url = "https://f.example"\nuser = "ann"\npassword = "pw-file-1"\n'
    )
    config = ClientConfig.load({"XDG_CONFIG_HOME": str(tmp_path)})
    assert (config.url, config.user, config.password) == ("https://f.example", "ann", "pw-file-1")
    assert "pw-file-1" not in repr(config)


def test_the_environment_wins_and_credentials_never_mix(tmp_path):
    path = write(
        tmp_path / "c.toml", 'url = "https://f.example"\nuser = "ann"\npassword = "pw-f"\n'
    )
    env = {"OPSJOBS_CLIENT_CONFIG": str(path), "OPSJOBS_TOKEN": "tok-env-1"}
    config = ClientConfig.load(env)
    assert config.url == "https://f.example"  # not in the environment: from the file
    assert (config.user, config.password, config.token) == (None, None, "tok-env-1")
    env["OPSJOBS_URL"] = "http://e.example"
    assert ClientConfig.load(env).url == "http://e.example"
    assert ClientConfig.load(env, url="http://option.example").url == "http://option.example"


def test_a_secret_file_others_may_read_is_refused(tmp_path):
    path = write(tmp_path / "c.toml", 'url = "http://h"\ntoken = "tok-1"\n', mode=0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        ClientConfig.load({}, path=path)
    write(path, 'url = "http://h"\n', mode=0o644)  # no secret in it: fine
    assert ClientConfig.load({}, path=path).url == "http://h"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('url = "http://h"\npasword = "x"\n', "unknown setting 'pasword'"),
        ("url = 5\n", "url must be a string"),
        ("url = \n", "not valid TOML"),
    ],
)
def test_a_malformed_file_is_named(tmp_path, text, message):
    path = write(tmp_path / "c.toml", text)
    with pytest.raises(ConfigError, match=message) as refused:
        ClientConfig.load({}, path=path)
    assert str(path) in str(refused.value)


def test_no_server_says_how_to_give_one(tmp_path):
    with pytest.raises(ConfigError, match="OPSJOBS_URL"):
        ClientConfig.load({}, path=tmp_path / "absent.toml")


def test_the_config_makes_clients(tmp_path):
    config = ClientConfig.load({"OPSJOBS_URL": "http://h:1/node/api/", "OPSJOBS_TOKEN": "t-123456"})
    with config.client() as client:
        assert str(client._http.base_url) == "http://h:1/node/api/"
        assert client._http.params["auth-token"] == "t-123456"
