"""Storm reports: HTML, JSON (round-trips), JUnit XML, CSV and a Markdown summary."""
