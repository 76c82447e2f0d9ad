"""Secrets a step reads or is given never show in its recorded cache parts nor in explanations.

The key still covers the real values (a changed secret is a miss), and the
explanation still says *that* the secret changed, masked.
"""
from __future__ import annotations

import json
import sys

import pytest

from fingerprint_helpers import load, unique
from zen_mlmd.secrets import SECRET_MASK, is_secret_key, masked
from zen_mlmd.tracking.caching import compute_cache_key, explain_code_change, explain_miss
from zen_mlmd.tracking.fingerprint import fingerprint
from zen_mlmd.tracking.value_preview import mask_preview, preview

USER_CODE = '''
from dataclasses import dataclass

CONFIG = {"password": "hunter2", "threshold": 0.5, "url": "postgresql://me:pg-hunter2@db/x"}
API_TOKEN = "tok-hunter2"


@dataclass
class Login:
    user: str = "me"
    client_secret: str = "cs-hunter2"


LOGIN = Login()


def connect(x, db_password="dflt-hunter2"):
    return x, db_password


def reads_secrets(n: int):
    return CONFIG["threshold"], API_TOKEN, LOGIN.user, connect(n)
'''

SECRETS = ("hunter2", "pg-hunter2", "tok-hunter2", "cs-hunter2", "dflt-hunter2")


@pytest.fixture
def user(tmp_path):
    module = load(tmp_path, unique("secrets"), USER_CODE)
    yield module
    sys.modules.pop(module.__name__, None)


def test_the_secret_key_rule_lives_in_secrets_and_the_pages_use_it():
    from zen_mlmd.ui import formatting

    assert formatting.is_secret_key is is_secret_key
    assert is_secret_key("API_TOKEN") and is_secret_key("db_password") and is_secret_key("clientSecret")
    assert not is_secret_key("threshold") and not is_secret_key("password_file")
    assert masked({"a": {"token": "x"}, "u": "s3://k:secret@h/p"}) == \
        {"a": {"token": SECRET_MASK}, "u": f"s3://k:{SECRET_MASK}@h/p"}


def test_previews_mask_values_under_secret_names():
    shown = preview({"password": "hunter2", "threshold": 0.5, "db": {"apiKey": "k"},
                     "url": "mysql://me:hunter2@h/d"})
    assert shown == {"password": SECRET_MASK, "threshold": "0.5", "db.apiKey": SECRET_MASK,
                     "url": f"'mysql://me:{SECRET_MASK}@h/d'"}
    assert preview("hunter2", secret=True) == {"": SECRET_MASK}
    # previews recorded before masking existed are masked when read back
    assert mask_preview({"password": "'hunter2'", "x": "1"}) == {"password": SECRET_MASK, "x": "1"}
    assert mask_preview({"": "'hunter2'"}, secret=True) == {"": SECRET_MASK}


def test_a_fingerprint_covers_secrets_but_its_parts_never_show_them(user):
    before = fingerprint(user.reads_secrets)
    assert not any(s in json.dumps(before.parts) for s in SECRETS)
    user.CONFIG["password"] = "hunter3"
    user.API_TOKEN = "tok-hunter3"
    user.LOGIN = user.Login(client_secret="cs-hunter3")
    user.connect.__defaults__ = ("dflt-hunter3",)
    after = fingerprint(user.reads_secrets)
    assert after.value != before.value  # the key covers the real values
    text = json.dumps(after.parts)
    assert "hunter3" not in text
    reasons = explain_code_change(after.parts, before.parts)
    assert f"global CONFIG changed: password {SECRET_MASK} -> {SECRET_MASK}" in reasons
    assert f"global API_TOKEN changed: {SECRET_MASK} -> {SECRET_MASK}" in reasons
    assert f"global LOGIN changed: client_secret {SECRET_MASK} -> {SECRET_MASK}" in reasons
    assert any(r.startswith("default db_password of ") and r.endswith(f"{SECRET_MASK} -> {SECRET_MASK}")
               for r in reasons), reasons
    assert not any(s in " ".join(reasons) for s in SECRETS + ("hunter3",))


def test_explaining_old_records_masks_the_previews_they_hold():
    old = {"reads": {"global API_TOKEN": {"kind": "value", "digest": "a", "shown": {"": "'tok-1'"}},
                     "global CONFIG": {"kind": "value", "digest": "b",
                                       "shown": {"password": "'hunter2'", "x": "1"}}}}
    new = {"reads": {"global API_TOKEN": {"kind": "value", "digest": "c", "shown": {"": "'tok-2'"}},
                     "global CONFIG": {"kind": "value", "digest": "d",
                                       "shown": {"password": "'hunter3'", "x": "1"}},
                     "global DB_PASSWORD": {"kind": "value", "digest": "e", "shown": {"": "'pw'"}}}}
    reasons = explain_code_change(new, old)
    assert reasons == [f"global API_TOKEN changed: {SECRET_MASK} -> {SECRET_MASK}",
                       f"global CONFIG changed: password {SECRET_MASK} -> {SECRET_MASK}",
                       f"the step now reads global DB_PASSWORD ({SECRET_MASK})"]


def key(parameters):
    return compute_cache_key("sha256:c", parameters, {}, {}, "/store")


def test_secret_parameters_are_keyed_but_recorded_and_explained_masked():
    before = key({"api_token": "tok-hunter2", "lr": 0.1, "db": {"password": "hunter2"}})
    after = key({"api_token": "tok-hunter3", "lr": 0.1, "db": {"password": "hunter2"}})
    assert before.value != after.value
    assert not any(s in json.dumps(before.parts) for s in SECRETS)
    [reason] = explain_miss(after.parts, before.parts)
    assert reason == f"parameters changed (api_token: '{SECRET_MASK}' -> '{SECRET_MASK}')"
    # parts recorded before masking existed: masked when explained
    old = {**before.parts, "parameters": json.dumps({"api_token": "tok-hunter2", "lr": 0.1})}
    new = {**before.parts, "parameters": json.dumps({"api_token": "tok-hunter3", "lr": 0.2})}
    [reason] = explain_miss(new, old)
    assert reason == f"parameters changed (api_token: '{SECRET_MASK}' -> '{SECRET_MASK}', lr: 0.1 -> 0.2)"
