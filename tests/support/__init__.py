"""What the tests share: the private Dovecot + Postfix stack (``mailstack``) and the helpers
integration tests use to configure mailtix against it and run its CLI (``live``)."""
