"""Settings are read once; a bad value stops the start naming the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from harborlite.settings import SettingsError, load_settings


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings({"HARBORLITE_DATA_DIR": str(tmp_path)})
    assert settings.port == 8080
    assert settings.external_url == "http://127.0.0.1:8080"
    assert settings.realm == "http://127.0.0.1:8080/service/token"
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'harborlite.db'}"
    assert settings.embedded_registry
    assert settings.token_expiration_minutes == 30
    assert settings.admin_password is None


def test_values_and_secret_repr(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "HARBORLITE_DATA_DIR": str(tmp_path),
            "HARBORLITE_PORT": "9000",
            "HARBORLITE_EXTERNAL_URL": "https://harbor.example.com/",
            "HARBORLITE_ADMIN_PASSWORD": "Harbor12345",
            "HARBORLITE_DATABASE_URL": "postgresql://u:p@db/h",
            "HARBORLITE_REGISTRY_URL": "http://registry:5000",
            "HARBORLITE_TOKEN_EXPIRATION": "15",
        }
    )
    assert settings.external_url == "https://harbor.example.com"
    assert settings.external_host == "harbor.example.com"
    assert settings.database_url == "postgresql+asyncpg://u:p@db/h"
    assert not settings.embedded_registry
    assert settings.token_expiration_minutes == 15
    assert settings.admin_password is not None
    assert settings.admin_password.reveal() == "Harbor12345"
    assert "Harbor12345" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HARBORLITE_PORT", "eighty"),
        ("HARBORLITE_PORT", "70000"),
        ("HARBORLITE_EXTERNAL_URL", "harbor.example.com"),
        ("HARBORLITE_EXTERNAL_URL", "ftp://harbor"),
        ("HARBORLITE_DATABASE_URL", "mysql://x/y"),
        ("HARBORLITE_REGISTRY_URL", "registry:5000"),
        ("HARBORLITE_TOKEN_EXPIRATION", "0"),
        ("HARBORLITE_TOKEN_EXPIRATION", "soon"),
        ("HARBORLITE_TOKEN_REUSE_MS", "-1"),
        ("HARBORLITE_TOKEN_REUSE_MS", "60000"),
        ("HARBORLITE_TOKEN_REUSE_MS", "1s"),
        ("HARBORLITE_ADMIN_PASSWORD", "short"),
        ("HARBORLITE_LOG_LEVEL", "loud"),
        ("HARBORLITE_REGISTRY_STORAGE", "/srv/registry"),  # without HARBORLITE_REGISTRY_URL
    ],
)
def test_bad_values_name_the_setting(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings({"HARBORLITE_DATA_DIR": str(tmp_path), name: value})


def test_token_reuse_is_a_second_unless_set(tmp_path: Path) -> None:
    base = {"HARBORLITE_DATA_DIR": str(tmp_path)}
    assert load_settings(base).token_reuse_ms == 1000
    assert load_settings({**base, "HARBORLITE_TOKEN_REUSE_MS": "0"}).token_reuse_ms == 0


def test_registry_storage_of_an_external_registry(tmp_path: Path) -> None:
    base = {"HARBORLITE_DATA_DIR": str(tmp_path), "HARBORLITE_REGISTRY_URL": "http://r:5000"}
    assert load_settings(base).registry_storage_root is None
    shared = load_settings({**base, "HARBORLITE_REGISTRY_STORAGE": "/srv/registry"})
    assert shared.registry_storage_root == Path("/srv/registry")
    with pytest.raises(SettingsError, match="HARBORLITE_REGISTRY_STORAGE must be an absolute"):
        load_settings({**base, "HARBORLITE_REGISTRY_STORAGE": "registry"})
    embedded = load_settings({"HARBORLITE_DATA_DIR": str(tmp_path)})
    assert embedded.registry_storage_root == tmp_path.resolve() / "registry"
