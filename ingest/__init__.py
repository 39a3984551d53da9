"""Ingest pipeline: load -> clean -> structure -> split -> tag -> store."""
