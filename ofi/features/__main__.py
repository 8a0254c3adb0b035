"""``python -m ofi.features`` prints docs/features.md (the registry as a Markdown table);
``python -m ofi.features --slots`` prints ofi/_core/feature_slots.pxd (the kernel's slot indices)."""
import argparse
import sys

from ofi.features.registry import markdown_table, slot_header

parser = argparse.ArgumentParser(prog="python -m ofi.features", description=__doc__)
parser.add_argument("--slots", action="store_true",
                    help="print the Cython slot header instead (> ofi/_core/feature_slots.pxd)")
args = parser.parse_args()
sys.stdout.write(slot_header() if args.slots else markdown_table())
