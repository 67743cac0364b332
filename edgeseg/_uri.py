"""Credentials out of URIs before they are shown (stdout, --stats, the live view, batch rows). Stdlib only."""

from __future__ import annotations

import re

# scheme://[user:]secret@host: the password (or a user-less token) goes; quotes and brackets end a URI, so a URI
# inside JSON or HTML text is matched without running into the next one
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)(?:([^\s/?#@:\"'<>]*):)?[^\s/?#\"'<>]*@")
# ?token=..., &password=..., X-Amz-Signature=..., api_key=...: secrets carried in a query
_SECRET_PARAM = re.compile(r"(?i)([?&][\w.-]*?(?:token|password|passwd|pwd|passphrase|secret|signature|credential|key)=)"
                           r"[^&\s#\"'<>]*")
# rtmp(s)://host/app/STREAM-KEY: the last path segment of an RTMP URL is the stream key (YouTube, Twitch, ...)
_RTMP_KEY = re.compile(r"(?i)\b(rtmps?://[^\s/\"'<>]+/[^\s?#\"'<>]*?/)[^\s/?#\"'<>]+")


def redact_uri(text: str) -> str:
    """``text`` with every URI's credentials masked: ``rtsp://admin:pw@cam`` -> ``rtsp://admin:***@cam``,
    ``s3://TOKEN@bucket`` -> ``s3://***@bucket``, ``?token=abc`` -> ``?token=***``,
    ``rtmp://a.rtmp.youtube.com/live2/KEY`` -> ``rtmp://a.rtmp.youtube.com/live2/***``. Works on any text (a URI, an
    error message, a JSON document)."""
    text = _USERINFO.sub(lambda m: f"{m[1]}{m[2]}:***@" if m[2] is not None else f"{m[1]}***@", text)
    text = _RTMP_KEY.sub(r"\1***", text)
    return _SECRET_PARAM.sub(r"\1***", text)
