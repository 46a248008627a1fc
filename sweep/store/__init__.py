"""Results on disk: folders that sweep owns (a record of what it wrote, a lock), the runs
tables and sweep.json (checked against a schema), and big results binned for figures."""
