"""What a person looks at: heatmaps drawn from the runs table, and the report pages built from
templates with every value escaped."""
