"""Mail mailtix writes: letters, templates, MIME, the outbox and its senders."""
