"""The catalog: curated-chart publishing, the searchable app projection, README sanitising."""
