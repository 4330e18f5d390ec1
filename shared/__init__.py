"""Library code of the Event Hubs to Adobe connector: no triggers here."""
