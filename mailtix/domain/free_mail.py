"""Free-mail domains: anyone can have an address there, so no organisation is joined by them.

The providers most help-desk mail comes from (Gmail, Outlook/Hotmail/Live, Yahoo, iCloud, AOL,
Proton, GMX, web.de, Mail.ru, Yandex, QQ…), their country variants included. An organisation
whose people write from such an address lists them one by one (``members``).
"""

from __future__ import annotations

FREE_MAIL_DOMAINS = frozenset(
    """
    gmail.com googlemail.com
    outlook.com outlook.de outlook.fr outlook.es outlook.it hotmail.com hotmail.co.uk hotmail.de
    hotmail.fr hotmail.es hotmail.it live.com live.co.uk live.de live.fr msn.com passport.com
    yahoo.com yahoo.co.uk yahoo.de yahoo.fr yahoo.es yahoo.it yahoo.co.jp yahoo.com.br
    ymail.com rocketmail.com
    icloud.com me.com mac.com
    aol.com aim.com
    proton.me protonmail.com protonmail.ch pm.me tutanota.com tutanota.de tuta.io
    gmx.de gmx.net gmx.at gmx.ch gmx.com web.de freenet.de t-online.de posteo.de mailbox.org
    mail.com email.com zoho.com zohomail.com fastmail.com fastmail.fm hey.com
    mail.ru bk.ru inbox.ru list.ru yandex.ru yandex.com ya.ru rambler.ru
    qq.com 163.com 126.com sina.com yeah.net naver.com daum.net hanmail.net
    libero.it virgilio.it tiscali.it orange.fr wanadoo.fr free.fr laposte.net sfr.fr
    seznam.cz wp.pl o2.pl interia.pl onet.pl rediffmail.com
    btinternet.com sky.com virginmedia.com comcast.net verizon.net att.net sbcglobal.net
    bluewin.ch hushmail.com
    """.split()  # noqa: SIM905 (a word list reads better as text)
)


def is_free_mail(domain: str) -> bool:
    """Whether ``domain`` (lower-case, ASCII) is a free-mail domain or below one."""
    parts = domain.split(".")
    return any(".".join(parts[i:]) in FREE_MAIL_DOMAINS for i in range(len(parts) - 1))
