"""KPIs, exports, charts and the CRM webhooks."""
