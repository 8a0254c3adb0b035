"""Tests of ofi.api.signing: the V5 HMAC signature and the secret's containment."""
from __future__ import annotations

import copy
import hashlib
import hmac
import json
import pickle

import pytest

from ofi.api.signing import Credentials, Secret, json_body, query_string, sign, signing_payload
from ofi.errors import InvalidInputError

KEY = "XXXXXXXXXX"
SECRET = "S3cr3t-Value-For-Tests-0123456789abcdef"
TS = 1658384314791
RECV = 5000


def by_hand(secret: str, text: str) -> str:
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def test_documented_payload_string():
    # bybit-v5.md 4.1, docs v5/guide "Authentication": the string signed for a GET
    qs = "category=option&symbol=BTC-29JUL22-25000-C"
    assert signing_payload(TS, KEY, RECV, qs) == "1658384314791XXXXXXXXXX5000category=option&symbol=BTC-29JUL22-25000-C"
    # the same query built from params: keys sorted, nothing encoded that Bybit's example leaves plain
    assert query_string({"symbol": "BTC-29JUL22-25000-C", "category": "option"}) == qs


def test_get_signature_matches_hand_derivation():
    qs = "category=option&symbol=BTC-29JUL22-25000-C"
    want = by_hand(SECRET, f"{TS}{KEY}{RECV}{qs}")
    assert sign(SECRET, TS, KEY, RECV, qs) == want
    assert sign(Secret(SECRET), TS, KEY, RECV, qs) == want
    assert len(want) == 64 and want == want.lower()


def test_post_signature_signs_the_exact_body():
    body = json_body({"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit",
                      "qty": "0.001", "price": "60000.1", "orderLinkId": None})
    assert body == ('{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Limit",'
                    '"qty":"0.001","price":"60000.1"}')
    assert json.loads(body)["qty"] == "0.001"
    want = by_hand(SECRET, f"{TS}{KEY}{RECV}{body}")
    assert sign(SECRET, TS, KEY, RECV, body) == want
    # one byte of difference in the body changes the signature
    assert sign(SECRET, TS, KEY, RECV, body.replace("0.001", "0.002")) != want


def test_empty_query_signature():
    assert sign(SECRET, TS, KEY, RECV, "") == by_hand(SECRET, f"{TS}{KEY}{RECV}")


def test_hmac_primitive_rfc4231_case_2():
    # RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?"
    assert Secret("Jefe").sign("what do ya want for nothing?") == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")


def test_headers():
    c = Credentials(KEY, SECRET)
    h = c.headers(TS, RECV, "category=linear")
    assert h == {
        "X-BAPI-API-KEY": KEY,
        "X-BAPI-TIMESTAMP": str(TS),
        "X-BAPI-RECV-WINDOW": str(RECV),
        "X-BAPI-SIGN": by_hand(SECRET, f"{TS}{KEY}{RECV}category=linear"),
        "X-BAPI-SIGN-TYPE": "2",
    }
    assert SECRET not in json.dumps(h)


def test_query_string_rules():
    assert query_string(None) == ""
    assert query_string({"b": 2, "a": None, "c": True, "d": False}) == "b=2&c=true&d=false"
    # a cursor Bybit handed out URL-encoded goes back unchanged
    assert query_string({"cursor": "first%3DBIOUSDT%26last%3DBIOUSDT"}) == "cursor=first%3DBIOUSDT%26last%3DBIOUSDT"
    # characters that would change the query's meaning are encoded
    assert query_string({"x": "a&b=c d"}) == "x=a%26b%3Dc%20d"


def test_secret_is_masked_everywhere():
    s = Secret(SECRET)
    for text in (repr(s), str(s), f"{s}", f"{s!r}", "%s" % s, format(s, ">80"), repr([s]), repr({"k": s})):
        assert SECRET not in text
        assert "****" in text
    c = Credentials(KEY, SECRET)
    assert SECRET not in repr(c) and KEY not in repr(c)
    assert c.masked_key == "XXXX****"


def test_secret_refuses_pickle_and_mutation():
    s = Secret(SECRET)
    with pytest.raises(TypeError):
        pickle.dumps(s)
    with pytest.raises(TypeError):
        pickle.dumps(Credentials(KEY, SECRET))
    with pytest.raises(AttributeError):
        s._key = b"x"  # type: ignore[misc]
    assert copy.deepcopy(s) is s and copy.copy(s) is s
    assert Secret(SECRET) == s and Secret(SECRET + "x") != s


def test_bad_credentials_do_not_echo_the_secret():
    with pytest.raises(InvalidInputError) as e:
        Secret("")
    with pytest.raises(InvalidInputError) as e2:
        Credentials("", SECRET)
    with pytest.raises(InvalidInputError) as e3:
        Credentials("bad key with spaces", SECRET)
    for err in (e, e2, e3):
        assert SECRET not in str(err.value)


def test_from_env():
    assert Credentials.from_env({}) is None
    c = Credentials.from_env({"BYBIT_API_KEY": KEY, "BYBIT_API_SECRET": SECRET})
    assert c is not None and c.api_key == KEY and c.secret == Secret(SECRET)
    with pytest.raises(InvalidInputError, match="BYBIT_API_SECRET"):
        Credentials.from_env({"BYBIT_API_KEY": KEY})
    with pytest.raises(InvalidInputError, match="BYBIT_API_KEY"):
        Credentials.from_env({"BYBIT_API_SECRET": SECRET})
