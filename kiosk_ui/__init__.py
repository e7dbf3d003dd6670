"""The lobby kiosk terminal UI (Textual); talks only to edge."""
