"""A local fake Bybit (REST and websocket) on 127.0.0.1 only, with fault injection, for the tests."""
