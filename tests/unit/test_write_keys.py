"""Tenant write keys: stored hashed, two at once while rotating, made and hashed by `headwater write-key`."""

import subprocess
import sys

import pytest

from common.config import REPO_ROOT, ConfigError
from common.contracts.tenants import WRITE_KEY_HASH, hash_write_key, load_registry, parse_registry


def test_the_tenants_file_holds_hashes_and_refuses_a_plain_key_with_what_to_do(tmp_path):
    assert load_registry().for_write_key("wk_acme_live").name == "acme"
    assert load_registry().for_write_key(hash_write_key("wk_acme_live")) is None  # the hash is not a key
    plain = tmp_path / "tenants.yaml"
    plain.write_text("tenants:\n  acme:\n    write_keys: [wk_acme_live]\n")
    with pytest.raises(ConfigError, match="not a hash: store the line `headwater write-key hash` prints"):
        load_registry(plain)


def test_one_key_for_two_tenants_is_refused():
    shared = [hash_write_key("wk_shared")]
    with pytest.raises(ConfigError, match="tenants a and b hold the same write key"):
        parse_registry({"tenants": {"a": {"write_keys": shared}, "b": {"write_keys": shared}}})


def _headwater(*args: str, stdin: str = "") -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", *args], input=stdin, capture_output=True, text=True, cwd=REPO_ROOT
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_write_key_new_prints_a_key_and_the_hash_line_that_admits_it():
    key_line, entry_line = _headwater("write-key", "new")
    key = key_line.split()[2]
    entry = entry_line.split('"')[1]
    assert key.startswith("wk_") and len(key) >= 32 and WRITE_KEY_HASH.fullmatch(entry)
    assert parse_registry({"tenants": {"t": {"write_keys": [entry]}}}).for_write_key(key).name == "t"
    assert _headwater("write-key", "hash", stdin=f"{key}\n\n") == [entry_line]
