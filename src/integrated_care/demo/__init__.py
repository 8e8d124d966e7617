"""`ics demo`: build a realistic synthetic ICS end to end and serve it."""
