"""A ticket's life over time: status rules, SLA, survey, timed jobs, digest."""
