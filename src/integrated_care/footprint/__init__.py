"""Footprint: the ICS, its places, PCNs, practices, organisations and LSOAs."""
