"""Workforce: staff passports, staff movement between member organisations, the workforce plan."""
