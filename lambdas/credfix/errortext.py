"""The one redactor for AWS error text: every reason, detail, log line and alert that quotes
an error goes through `error_text` (or `redact_message` for a message on its own).

AWS error messages can echo the request. Lambda refuses an environment over 4 KB with
"… exceeded the 4KB limit. String measured: {"DB_PASSWORD":"…",…}", quoting every variable;
validation errors say "Value 'the-value' at 'path' failed to satisfy constraint"; botocore's
parameter validation quotes the value it refused. So what is kept is the error code, the
operation and the message with everything that can carry a request value removed: quoted
text, JSON objects and lists, `name=value` pairs, `Value … at '…'` fragments, long
key-like tokens; access key IDs are redacted to `AKIA…WXYZ`. The AccessDenied sentence that
names the missing action (and the principal and resource, ARNs AWS writes itself) is kept
whole, as is a Kubernetes RBAC Forbidden sentence (verb, resource, group, namespace): they
are what an operator needs to fix a policy or a Role.

Pure functions at the bottom of the house (like credfix.keys): the adapters, the core, the
handlers and the CLI all use this one.
"""

from __future__ import annotations

import re
import unicodedata

from credfix.keys import redact

LIMIT = 300  # characters of message kept
GONE = "…"

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069]+")
_BLANKED = {"Cc", "Cf", "Zl", "Zp", "Cs"}
_KEY_ID = re.compile(r"(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}")
# What introduces an echo of the whole request body: everything after it goes.
_ECHO_TAIL = re.compile(r"(String measured|Request body|Parameters were|Environment was)\s*:.*", re.I)
# AWS validation errors: "Value 'x' at 'path' failed to satisfy constraint: ..."
_VALUE_AT = re.compile(r"\bValue\s+(?:'[^']*'|\"[^\"]*\"|\{.*?\}|\[.*?\]|\S+)\s+at\s+'[^']*'", re.I)
_JSON_OBJECT = re.compile(r"\{.*\}")  # greedy: nested objects go with their parent
_JSON_OBJECT_OPEN = re.compile(r"\{[^}]*$")  # a truncated echo that never closes
_LIST = re.compile(r"\[[^\]]*\]")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`|\u2018[^\u2019]*\u2019|\u201c[^\u201d]*\u201d")
_ASSIGNMENT = re.compile(r"\b([A-Za-z_][\w.-]*)\s*=\s*(?!…)\S+")
_VALUE_COLON = re.compile(r"\b(value|values|input|got)\s*:\s*(?!…)\S+", re.I)
# 32+ characters of a secret's alphabet, with letters and digits: a secret access key (40), a
# session token, a password. Hyphenated names (functions, services) are not matched.
_KEY_LIKE = re.compile(r"(?<![\w/+=])(?=[A-Za-z0-9/+=]*\d)(?=[A-Za-z0-9/+=]*[A-Za-z])[A-Za-z0-9/+=]{32,}")
# "User: arn:… is not authorized to perform: ecs:UpdateService on resource: arn:… because …"
_ARNISH = r"[A-Za-z0-9:/+=,.@_*\-]{1,400}"
_DENIED = re.compile(
    rf"(?:(?P<who>(?:User|Principal|Role)?:?\s*{_ARNISH})\s+)?is not authorized to perform:?\s*"
    rf"(?P<action>[a-z0-9-]{{1,40}}:[A-Za-z0-9*]{{1,100}})"
    rf"(?:\s+on resource:?\s*(?P<resource>{_ARNISH}))?"
    r"(?P<why>\s+(?:because|with an explicit deny)[A-Za-z0-9 :/_.,\-*-]{0,200})?"
)

# Kubernetes RBAC: 'deployments.apps "x" is forbidden: User "u" cannot patch resource
# "deployments" in API group "apps" in the namespace "n"' (names are DNS labels/subdomains).
_DNS = r"[a-z0-9][a-z0-9.-]{0,252}"
_RBAC_DENIED = re.compile(
    rf'(?:(?P<object>{_DNS})(?: "(?P<name>{_DNS})")? )?is forbidden: '
    rf'User "(?P<user>[A-Za-z0-9:@._/=+,-]{{1,200}})" '
    rf'cannot (?P<verb>[a-z]{{1,20}}) resource "(?P<resource>{_DNS})"'
    rf'(?: in API group "(?P<group>(?:{_DNS})?)")?'
    rf'(?: in the namespace "(?P<namespace>{_DNS})"| (?P<cluster>at the cluster scope))?'
)


def _one_line(text: str) -> str:
    """Printable text on one line: control, format (bidi, zero-width, tag characters), line
    and paragraph separators and lone surrogates become spaces, runs of spaces one."""
    text = _CONTROL.sub(" ", text)
    if not text.isascii():
        text = "".join(" " if unicodedata.category(ch) in _BLANKED else ch for ch in text)
    return re.sub(r"\s+", " ", text).strip()


def _access_denied(message: str) -> str | None:
    """The sentence naming the missing action, rebuilt from its checked parts (so nothing else
    of the message rides along), or None when the message has no such sentence."""
    found = _DENIED.search(message)
    if not found:
        return None
    who = (found.group("who") or "").strip()
    parts = [f"{who} " if who else "", f"is not authorized to perform: {found.group('action')}"]
    if found.group("resource"):
        parts.append(f" on resource: {found.group('resource').rstrip('.,')}")
    why = (found.group("why") or "").rstrip(" .,")
    if why:
        parts.append(why)
    return _KEY_ID.sub(lambda m: redact(m.group(0)), "".join(parts))


def _rbac_denied(message: str) -> tuple[str, str, str] | None:
    """The Kubernetes Forbidden sentence naming the verb RBAC refused, rebuilt from its checked
    parts (DNS names, a user name), with the text before and after it; None when it has none."""
    found = _RBAC_DENIED.search(message)
    if not found:
        return None
    obj, name, namespace = found.group("object"), found.group("name"), found.group("namespace")
    parts = [f'{obj} "{name}" ' if obj and name else f"{obj} " if obj else ""]
    parts.append(f'is forbidden: User "{found.group("user")}" cannot {found.group("verb")} ')
    parts.append(f'resource "{found.group("resource")}"')
    if found.group("group") is not None:
        parts.append(f' in API group "{found.group("group")}"')
    if namespace:
        parts.append(f' in the namespace "{namespace}"')
    elif found.group("cluster"):
        parts.append(" at the cluster scope")
    sentence = _KEY_ID.sub(lambda m: redact(m.group(0)), "".join(parts))
    return message[: found.start()], sentence, message[found.end() :]


def _scrub(text: str) -> str:
    text = _ECHO_TAIL.sub(lambda m: f"{m.group(1)}: {GONE}", text)
    text = _VALUE_AT.sub("a value", text)
    text = _JSON_OBJECT.sub("{" + GONE + "}", text)
    text = _JSON_OBJECT_OPEN.sub("{" + GONE, text)
    text = _LIST.sub("[" + GONE + "]", text)
    text = _QUOTED.sub("'" + GONE + "'", text)
    text = _ASSIGNMENT.sub(lambda m: f"{m.group(1)}={GONE}", text)
    text = _VALUE_COLON.sub(lambda m: f"{m.group(1)}: {GONE}", text)
    text = _KEY_ID.sub(lambda m: redact(m.group(0)), text)
    return _KEY_LIKE.sub(GONE, text)


def redact_message(message: object, limit: int = LIMIT) -> str:
    """An AWS (or botocore) error message with every fragment that can echo a request value
    removed; one line of at most `limit` characters."""
    text = _one_line(str(message or ""))[: 8 * limit + 2048]
    denied = _access_denied(text)
    if denied is not None:
        return denied[:limit]
    rbac = _rbac_denied(text)
    if rbac is not None:  # what came before and after is scrubbed as any message is
        before, sentence, after = rbac
        text = _scrub(before) + sentence + _scrub(after)
    else:
        text = _scrub(text)
    text = _one_line(text)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + GONE


def error_code(exc: BaseException) -> str:
    """The AWS error code (`AccessDeniedException`), or the exception's type name."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return type(exc).__name__


def error_text(exc: BaseException, limit: int = LIMIT) -> str:
    """`Code: redacted message (Operation)` for an AWS error, `Type: redacted message` for any
    other exception, at most `limit` characters: what may be stored, logged and alerted."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and response.get("Error"):
        message = redact_message(response["Error"].get("Message", ""), limit)
        operation = getattr(exc, "operation_name", "") or ""
        text = f"{error_code(exc)}: {message}" if message else error_code(exc)
        text = f"{text} ({operation})" if operation else text
    else:
        message = redact_message(str(exc), limit)
        text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1].rstrip() + GONE
