"""Population health: who lives in the ICS and how their health is distributed (warehouse plane)."""
