"""Where mail comes from (IMAP, Maildir) and how raw bytes become a ParsedMail."""
