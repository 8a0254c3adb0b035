"""Venue adapters: everything that knows one exchange's bytes, topics, REST shapes and rules.

Each venue is one folder (``ofi/venues/bybit/``). It turns the venue's wire format into the core's
neutral events (book levels, trades, tapes) and the core's orders into the venue's requests; nothing
below this package (``ofi._core`` and the domain) sees a venue's field names. ``ofi.venues.events``
holds the stream events every venue's stream yields. ``docs/design.md`` lists the files a new venue
needs.
"""
