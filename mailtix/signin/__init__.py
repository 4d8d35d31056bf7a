"""Signing in with OAuth2: a fresh access token for one mailbox or SMTP account, from the
provider's token endpoint (msal for Microsoft, google-auth for Google, plain RFC 6749 for the
rest), kept in a private token cache. Used by inbound (IMAP) and outbound (SMTP) alike."""
