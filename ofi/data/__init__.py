"""The disk: tapes of normalised events, raw recordings, historical loaders."""
