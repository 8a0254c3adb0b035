"""Tests of ofi.venues.bybit.signing: the V5 HMAC signature and the secret's containment."""
from __future__ import annotations

import copy
import hashlib
import hmac
import json
import pickle

import pytest

from ofi.venues.bybit.signing import Credentials, Secret, json_body, query_string, sign, signing_payload
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
    # a built one names its masked key (only a half-built one, whose __init__ raised, says "<not set>")
    assert repr(c) == "Credentials(api_key='XXXX****', api_secret=Secret('********'))"


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


# --------------------------------------------------------------------------- exact messages and edges
KEY_MSG = "api_key must be a non-empty string of letters, digits, '-' or '_'"


@pytest.mark.parametrize("bad", [None, 123, b"key", "", "   ", "a b", "key!", "kéy", "key\n1"])
def test_credentials_refuse_a_bad_api_key_with_the_exact_message(bad):
    with pytest.raises(InvalidInputError) as e:
        Credentials(bad, SECRET)  # type: ignore[arg-type]
    assert str(e.value) == KEY_MSG


def test_credentials_keep_a_stripped_key_and_the_secret():
    c = Credentials("  Ab-1_z ", SECRET)
    assert c.api_key == "Ab-1_z" and isinstance(c.secret, Secret) and c.secret == Secret(SECRET)
    s = Secret(SECRET)
    assert Credentials(KEY, s).secret is s  # a Secret is kept as it is
    assert c.headers(TS, RECV, "")["X-BAPI-SIGN"] == by_hand(SECRET, f"{TS}Ab-1_z{RECV}")
    for bad, tname in ((None, "NoneType"), (123, "int"), ("", "str"), ("  ", "str")):
        with pytest.raises(InvalidInputError) as e:
            Credentials(KEY, bad)  # type: ignore[arg-type]
        assert str(e.value) == f"api_secret must be a non-empty string, got a {tname}"


def test_a_secret_wrapping_a_secret_is_equal_and_signs_alike():
    s = Secret(SECRET)
    w = Secret(s)
    assert w == s and w is not s and hash(w) == hash(s)
    assert w.sign("x") == by_hand(SECRET, "x")
    assert sign(w, TS, KEY, RECV, "a=1") == by_hand(SECRET, f"{TS}{KEY}{RECV}a=1")


def test_secret_hash_and_equality():
    a, a2, b = Secret(SECRET), Secret(SECRET), Secret(SECRET + "x")
    assert hash(a) == hash(a2) and a == a2 and not (a != a2)
    assert hash(a) != hash(b) and a != b and not (a == b)
    assert len({a, a2, b}) == 2
    assert a.__eq__(SECRET) is NotImplemented  # never equal to the plain string
    assert (a == SECRET) is False and (SECRET == a) is False
    assert hash(a) != hash(SECRET) and hash(a) != hash(SECRET.encode())


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickling_is_refused_with_a_clear_message(protocol):
    with pytest.raises(TypeError) as e:
        pickle.dumps(Secret(SECRET), protocol=protocol)
    assert str(e.value) == "a Secret cannot be pickled or serialised (it would write the API secret to disk)"
    with pytest.raises(TypeError) as e2:
        pickle.dumps(Credentials(KEY, SECRET), protocol=protocol)
    assert str(e2.value) == "Credentials cannot be pickled or serialised (they hold the API secret)"
    with pytest.raises(TypeError) as e3:
        copy.deepcopy(Credentials(KEY, SECRET))
    assert str(e3.value) == "Credentials cannot be pickled or serialised (they hold the API secret)"


def test_secret_format_is_masked_whatever_the_spec():
    s = Secret(SECRET)
    assert format(s, "") == "Secret('********')" and format(s, ">40") == "Secret('********')"
    assert f"{s:s}" == "Secret('********')"


@pytest.mark.parametrize("env, missing", [
    ({"BYBIT_API_KEY": KEY}, "BYBIT_API_SECRET"),
    ({"BYBIT_API_KEY": KEY, "BYBIT_API_SECRET": ""}, "BYBIT_API_SECRET"),
    ({"BYBIT_API_SECRET": SECRET}, "BYBIT_API_KEY"),
    ({"BYBIT_API_KEY": "", "BYBIT_API_SECRET": SECRET}, "BYBIT_API_KEY"),
])
def test_from_env_names_the_missing_variable_exactly(env, missing):
    with pytest.raises(InvalidInputError) as e:
        Credentials.from_env(env)
    assert str(e.value) == f"{missing} is not set while its partner is; set both or neither"


def test_from_env_reads_both_variables_and_only_them(monkeypatch):
    for name in ("BYBIT_API_KEY", "BYBIT_API_SECRET"):
        monkeypatch.delenv(name, raising=False)
    assert Credentials.from_env() is None  # the process environment, both unset
    assert Credentials.from_env({"bybit_api_key": KEY, "bybit_api_secret": SECRET}) is None  # names are exact
    c = Credentials.from_env({"BYBIT_API_KEY": "envKey-1", "BYBIT_API_SECRET": "env-secret-2"})
    assert c is not None and c.api_key == "envKey-1" and c.secret == Secret("env-secret-2")
    assert c.secret != Secret("envKey-1")
    monkeypatch.setenv("BYBIT_API_KEY", "procKey")
    monkeypatch.setenv("BYBIT_API_SECRET", "proc-secret")
    c2 = Credentials.from_env()
    assert c2 is not None and c2.api_key == "procKey" and c2.secret == Secret("proc-secret")
    # an explicit mapping wins over the process environment, even an empty one
    assert Credentials.from_env({}) is None
    c3 = Credentials.from_env({"BYBIT_API_KEY": "mapKey", "BYBIT_API_SECRET": "map-secret"})
    assert c3 is not None and c3.api_key == "mapKey" and c3.secret == Secret("map-secret")
