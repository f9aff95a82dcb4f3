# One way to write dates and times across the admin: "Nov 28, 2026" and "Nov 28, 2026 21:05"
# (Django's English default drops the minutes: "9 p.m."). Times are in settings.TIME_ZONE.
DATE_FORMAT = "M j, Y"
DATETIME_FORMAT = "M j, Y H:i"
SHORT_DATE_FORMAT = "M j, Y"
SHORT_DATETIME_FORMAT = "M j, Y H:i"
TIME_FORMAT = "H:i"
