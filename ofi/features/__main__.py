"""``python -m ofi.features`` prints docs/features.md (the registry as a Markdown table)."""
import sys

from ofi.features.registry import markdown_table

sys.stdout.write(markdown_table())
