"""The dashboard preview: a real Prometheus scraping a real gateway, the dashboard's queries evaluated
by it, and the answers drawn as a static page (see scripts/dashboard_preview.py)."""
