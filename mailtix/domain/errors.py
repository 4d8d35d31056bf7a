"""The small exception tree of mailtix; the CLI maps these to exit codes and one-line messages."""


class MailtixError(Exception):
    """Base of every error mailtix raises on purpose."""


class ConfigError(MailtixError):
    """The configuration is invalid. ``problems`` holds one line per problem (file, key, what)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class UsageError(MailtixError):
    """The command line asked for something that does not exist (unknown ticket, bad option)."""


class MailSourceError(MailtixError):
    """An IMAP server (or Maildir) could not be reached, logged in to or read."""


class ParseError(MailtixError):
    """A message could not be turned into a ParsedMail; the message is quarantined."""


class TemplateError(MailtixError):
    """A template is missing or failed to render."""


class SendError(MailtixError):
    """Sending a message failed. ``permanent`` is True for 5xx answers and bad recipients;
    ``connection_lost`` when the connection is gone (could not connect, dropped, timed out), so
    the rest of a batch must wait for a new connection."""

    def __init__(self, message: str, *, permanent: bool, connection_lost: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.connection_lost = connection_lost
