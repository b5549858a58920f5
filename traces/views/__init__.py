"""Pages of traces, one module per area: settings (ingest), and the run explorer, replay and dashboards."""
