"""Sphinx directives of the draxoft.auth.pam documentation.

``.. pam-constants:: GROUP``
    Documents the ``PAM_*`` constants of one group (``return-codes``,
    ``styles``, ``limits``, ``flags``, ``items``) as they are in the
    installed build, with their values (a constant of the group that the
    build's PAM lacks is listed without one); ``other`` documents every
    constant of the build that no group claims, so that none goes
    undocumented.

``.. pam-if:: IMPLEMENTATION``
    Content that holds for one implementation of PAM (``Linux-PAM`` or
    ``OpenPAM``): shown under "On IMPLEMENTATION:" whatever PAM built the
    pages, so that a reader sees both, and its doctests run only on a
    build against that implementation. tests/test_docs.py runs the
    runnable console blocks inside it on that implementation only.

``.. examples-need-linux-pam:: WHAT``
    The examples of this page need WHAT (modules of Linux-PAM or of
    pam_wrapper), which only Linux-PAM can load. Shows nothing; on a build
    against another PAM, every doctest of the page is skipped, and
    tests/test_docs.py reports that page as skipped for lack of WHAT.

``.. markdown-file:: PATH``
    Includes a Markdown file written in the small subset that
    CHANGELOG.md uses (Keep a Changelog): ``#`` headings, ``-`` lists,
    paragraphs, ```code```, ``[text](url)`` and ``**strong**``. No Markdown
    parser is needed for that much.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.statemachine import StringList
from sphinx.util.nodes import nested_parse_with_titles

# ---------------------------------------------------------------------------
# The constants, by group, with what they mean (our own words).

RETURN_CODES = {
    "PAM_SUCCESS": "The call succeeded. Never raised.",
    "PAM_OPEN_ERR": "A module of the stack could not be loaded: the file is missing, "
    "or built for another architecture.",
    "PAM_SYMBOL_ERR": "A symbol that PAM needed is missing.",
    "PAM_SERVICE_ERR": "A module failed through its own fault, often a bad argument in the "
    "service file.",
    "PAM_SYSTEM_ERR": "Something in the system failed (a file, a helper program). Linux-PAM "
    "also uses it for a bad handle or argument; ``pam_exec`` for a command that failed.",
    "PAM_BUF_ERR": "Out of memory.",
    "PAM_PERM_DENIED": "Permission denied: the account may not use this service, for instance. "
    ":func:`authenticate` counts it as a refusal.",
    "PAM_AUTH_ERR": "Authentication failed: the usual answer to a wrong password. "
    ":meth:`handle.authenticate` returns False instead of raising it.",
    "PAM_CRED_INSUFFICIENT": "The application may not check these credentials (it lacks a "
    "privilege, typically root). :func:`authenticate` counts it as a refusal.",
    "PAM_AUTHINFO_UNAVAIL": "The source of the authentication information could not be reached "
    "(a directory server is down, a file is unreadable).",
    "PAM_USER_UNKNOWN": "The module does not know this user. :func:`authenticate` counts it as "
    "a refusal, so that unknown users look like wrong passwords.",
    "PAM_MAXTRIES": "A module's limit of attempts is reached: stop asking. "
    ":func:`authenticate` counts it as a refusal.",
    "PAM_NEW_AUTHTOK_REQD": "From :meth:`handle.acct_mgmt`: the password was right but must be "
    "changed now (it has expired, or the administrator asks for it). Call "
    ":meth:`handle.chauthtok` with ``change_expired_authtok=True`` on the same handle.",
    "PAM_ACCT_EXPIRED": "The account itself has expired (not just its password). "
    ":func:`authenticate` counts it as a refusal.",
    "PAM_SESSION_ERR": "A session module could not open or close the session.",
    "PAM_CRED_UNAVAIL": "The user's credentials (tickets, keys) could not be retrieved.",
    "PAM_CRED_EXPIRED": "The user's credentials have expired.",
    "PAM_CRED_ERR": "Setting the user's credentials failed.",
    "PAM_NO_MODULE_DATA": "A module did not find data it expected to have stored. A module's "
    "internal matter.",
    "PAM_CONV_ERR": "The conversation failed: the handle has no conversation callback, or a "
    "module could not get the answers it needed. When your callback raises, the operation "
    "raises that exception instead.",
    "PAM_AUTHTOK_ERR": "From :meth:`handle.chauthtok`: the new password could not be set "
    "(a module found it too weak, the two copies differ, ...).",
    "PAM_AUTHTOK_RECOVERY_ERR": "From :meth:`handle.chauthtok`: the current password could not "
    "be obtained or checked.",
    "PAM_AUTHTOK_LOCK_BUSY": "From :meth:`handle.chauthtok`: the password database is locked "
    "by someone else. Try again later.",
    "PAM_AUTHTOK_DISABLE_AGING": "From :meth:`handle.chauthtok`: password aging is disabled, "
    "so the password cannot be changed now.",
    "PAM_TRY_AGAIN": "From :meth:`handle.chauthtok`: a module was not ready in the preliminary "
    "check; nothing was changed.",
    "PAM_IGNORE": "A module's way of saying \"leave me out of the result\". libpam never hands it "
    "to the application.",
    "PAM_ABORT": "A failure serious enough to end the transaction. Linux-PAM also returns it "
    "from ``pam_start`` when it cannot read the configuration (a ``confdir`` that does not "
    "exist, for instance).",
    "PAM_AUTHTOK_EXPIRED": "The user's password has expired.",
    "PAM_MODULE_UNKNOWN": "The module is not known.",
    "PAM_BAD_ITEM": "An item that the application may not read or set, or that this PAM does "
    "not have: Linux-PAM keeps ``authtok`` and ``oldauthtok`` from applications.",
    "PAM_CONV_AGAIN": "Linux-PAM: a module's conversation is to be resumed later (event-driven "
    "applications). The conversations of this binding always answer at once.",
    "PAM_INCOMPLETE": "Linux-PAM: the operation is not finished and is to be called again; "
    "only happens together with :data:`PAM_CONV_AGAIN`.",
    "PAM_DOMAIN_UNKNOWN": "OpenPAM: unknown authentication domain.",
    "PAM_BAD_HANDLE": "OpenPAM: the PAM handle is not valid.",
    "PAM_BAD_FEATURE": "OpenPAM: unknown feature.",
    "PAM_BAD_CONSTANT": "OpenPAM: a constant is not valid here.",
}

STYLES = {
    "PAM_PROMPT_ECHO_OFF": "A question whose answer must not be shown as it is typed: a "
    "password. The callback returns the answer.",
    "PAM_PROMPT_ECHO_ON": "A question whose answer may be shown: a user name, a one-time code "
    "read from a device. The callback returns the answer.",
    "PAM_ERROR_MSG": "An error message to show the user. The callback's answer is ignored "
    "(return None).",
    "PAM_TEXT_INFO": "A message to show the user. The callback's answer is ignored "
    "(return None).",
    "PAM_RADIO_TYPE": "Linux-PAM: a question to be answered by a choice (yes or no, for "
    "instance), shown as it is answered.",
    "PAM_BINARY_PROMPT": "Linux-PAM: a binary message for a client that understands the module's "
    "protocol; ``message`` is bytes, and so should the answer be (or None).",
}

LIMITS = {
    "PAM_MAX_NUM_MSG": "The most messages that one conversation call should carry.",
    "PAM_MAX_MSG_SIZE": "The longest message, in bytes, that a module should send.",
    "PAM_MAX_RESP_SIZE": "The longest answer, in bytes, that a module should expect.",
}

FLAGS = {
    "PAM_SILENT": "Modules should send no messages. The ``silent=True`` keyword of every "
    "operation.",
    "PAM_DISALLOW_NULL_AUTHTOK": "Fail a user whose password is empty. The "
    "``disallow_null_token=True`` keyword of :meth:`handle.authenticate` and "
    ":meth:`handle.acct_mgmt`.",
    "PAM_ESTABLISH_CRED": "``pam_setcred`` flag of :meth:`handle.establish_credentials`.",
    "PAM_DELETE_CRED": "``pam_setcred`` flag of :meth:`handle.delete_credentials`.",
    "PAM_REINITIALIZE_CRED": "``pam_setcred`` flag of :meth:`handle.reinitialize_credentials`.",
    "PAM_REFRESH_CRED": "``pam_setcred`` flag of :meth:`handle.refresh_credentials`.",
    "PAM_CHANGE_EXPIRED_AUTHTOK": "Change the password only if it has expired. The "
    "``change_expired_authtok=True`` keyword of :meth:`handle.chauthtok`.",
    "PAM_PRELIM_CHECK": "Module side: the first of the two passes of ``pam_chauthtok``, which "
    "checks that every module is ready. Applications never pass it.",
    "PAM_UPDATE_AUTHTOK": "Module side: the second pass of ``pam_chauthtok``, which changes the "
    "password. Applications never pass it.",
    "PAM_DATA_REPLACE": "Module side: given to the cleanup function of module data that is "
    "being replaced.",
    "PAM_DATA_SILENT": "Module side: given to module data cleanups to ask them for silence.",
}

ITEMS = {
    "PAM_SERVICE": "The service name: :attr:`handle.service`.",
    "PAM_USER": "The user name: :attr:`handle.user`.",
    "PAM_TTY": "The terminal: :attr:`handle.tty`.",
    "PAM_RHOST": "The remote host: :attr:`handle.rhost`.",
    "PAM_CONV": "The conversation: :attr:`handle.conv`.",
    "PAM_AUTHTOK": "The password: :attr:`handle.authtok`.",
    "PAM_OLDAUTHTOK": "The old password: :attr:`handle.oldauthtok`.",
    "PAM_RUSER": "The remote (requesting) user: :attr:`handle.ruser`.",
    "PAM_USER_PROMPT": "The prompt for a user name: :attr:`handle.user_prompt`.",
    "PAM_FAIL_DELAY": "Linux-PAM: the fail-delay function: :attr:`handle.delay`.",
    "PAM_XDISPLAY": "Linux-PAM: the X display: :attr:`handle.xdisplay`.",
    "PAM_XAUTHDATA": "Linux-PAM: the X authentication data: :attr:`handle.xauthdata`.",
    "PAM_AUTHTOK_TYPE": "Linux-PAM: the word in \"New ... password\" prompts: "
    ":attr:`handle.authtok_type`.",
    "PAM_REPOSITORY": "OpenPAM: where the user's data is kept. Not exposed by :class:`handle`.",
    "PAM_AUTHTOK_PROMPT": "OpenPAM: the prompt for a password: :attr:`handle.authtok_prompt`.",
    "PAM_OLDAUTHTOK_PROMPT": "OpenPAM: the prompt for the old password: "
    ":attr:`handle.oldauthtok_prompt`.",
    "PAM_HOST": "OpenPAM: the name of the local host, set by ``pam_start``: :attr:`handle.host`.",
}

GROUPS = {
    "return-codes": RETURN_CODES,
    "styles": STYLES,
    "limits": LIMITS,
    "flags": FLAGS,
    "items": ITEMS,
}


def _known() -> set[str]:
    return {name for group in GROUPS.values() for name in group}


class PamConstants(Directive):
    """``.. pam-constants:: GROUP``: the constants of a group, as built."""

    required_arguments = 1
    has_content = False

    def run(self) -> list[Any]:
        from draxoft.auth import pam

        group = self.arguments[0]
        present = [name for name in pam.__all__ if name.startswith("PAM_")]
        if group == "other":
            table = {name: "" for name in present if name not in _known()}
        elif group in GROUPS:
            table = GROUPS[group]
        else:
            raise self.error(f"unknown constant group {group!r}: one of {sorted(GROUPS)} or 'other'")
        lines: list[str] = []
        for name, text in table.items():
            if name not in present:
                # Another implementation's constant: listed, so that the
                # pages read the same whichever PAM built them.
                lines += [f".. data:: {name}", "", f"   {text}", "",
                          f"   Not in this build: {pam.implementation or 'its PAM'} lacks it.", ""]
                continue
            value = getattr(pam, name)
            lines += [f".. data:: {name}", f"   :value: {value}", ""]
            if text:
                lines += [f"   {text}", ""]
            if group == "return-codes" and name != "PAM_SUCCESS":
                words = pam.PamError.from_code(value).strerror
                lines += [f"   PAM's text for it: *{words}*", ""]
        if not lines:
            lines = ["None in this build."]
        content = StringList(lines, source=f"<pam-constants {group}>")
        node = nodes.container()
        nested_parse_with_titles(self.state, content, node)
        return list(node.children)


# ---------------------------------------------------------------------------
# Markdown, the CHANGELOG.md subset

_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_CODE = re.compile(r"`([^`]+)`")
_HEADING = re.compile(r"^(#{1,4})\s+(.*?)\s*#*$")
_UNDERLINE = {1: "=", 2: "-", 3: "~", 4: "^"}


def _inline(text: str) -> str:
    """Markdown inline markup to reStructuredText."""
    parts = []
    last = 0
    for match in _CODE.finditer(text):
        parts.append(_links(text[last:match.start()]))
        parts.append(f"``{match.group(1)}``")
        last = match.end()
    parts.append(_links(text[last:]))
    return "".join(parts)


def _links(text: str) -> str:
    text = _LINK.sub(lambda m: f"`{m.group(1)} <{m.group(2)}>`__", text)
    # A reference-style heading such as "[0.1.0] - date": keep the words.
    return re.sub(r"\[([^\]]+)\](?!\()", r"\1", text)


def markdown_to_rst(markdown: str) -> list[str]:
    """Convert the CHANGELOG.md subset of Markdown into reStructuredText lines."""
    out: list[str] = []
    for raw in markdown.splitlines():
        line = raw.rstrip()
        if re.match(r"^\[[^\]]+\]:\s*\S+", line):
            continue  # link reference definitions: their text stays in the headings
        heading = _HEADING.match(line)
        if heading:
            title = _inline(heading.group(2))
            mark = _UNDERLINE[len(heading.group(1))]
            out += ["", title, mark * max(len(title), 3), ""]
            continue
        out.append(_inline(line))
    return out


class MarkdownFile(Directive):
    """``.. markdown-file:: PATH``: include a Markdown file (see the module doc)."""

    required_arguments = 1
    has_content = False

    def run(self) -> list[Any]:
        env = self.state.document.settings.env
        relative, path = env.relfn2path(self.arguments[0])
        env.note_dependency(relative)
        lines = markdown_to_rst(Path(path).read_text(encoding="utf-8"))
        self.state_machine.insert_input(lines, str(path))
        return []


# ---------------------------------------------------------------------------
# Examples per implementation

IMPLEMENTATIONS = ("Linux-PAM", "OpenPAM")

#: The skipif expression (sphinx.ext.doctest) of doctests that need *name*.
_SKIP_UNLESS = "__import__('draxoft.auth.pam').auth.pam.implementation != {name!r}"


def _doctest_nodes(node: nodes.Node) -> list[nodes.Element]:
    """The nodes sphinx.ext.doctest runs: ``>>>`` blocks and its directives."""
    return [n for n in node.findall(nodes.Element)
            if isinstance(n, nodes.doctest_block) or "testnodetype" in n]


class PamIf(Directive):
    """``.. pam-if:: IMPLEMENTATION``: see the module doc."""

    required_arguments = 1
    final_argument_whitespace = True
    has_content = True

    def run(self) -> list[Any]:
        name = self.arguments[0].strip()
        if name not in IMPLEMENTATIONS:
            raise self.error(f"pam-if: {name!r} is not one of {IMPLEMENTATIONS}")
        box = nodes.container(classes=["pam-if", "pam-if-" + name.lower()])
        box += nodes.paragraph("", "", nodes.emphasis(text=f"On {name}:"))
        self.state.nested_parse(self.content, self.content_offset, box)
        for node in _doctest_nodes(box):
            node["skipif"] = _SKIP_UNLESS.format(name=name)
        return [box]


class ExamplesNeedLinuxPam(Directive):
    """``.. examples-need-linux-pam:: WHAT``: see the module doc."""

    required_arguments = 1
    final_argument_whitespace = True
    has_content = False

    def run(self) -> list[Any]:
        marker = nodes.comment(text=f"examples need {self.arguments[0]} (Linux-PAM)")
        marker["pam_examples_need"] = self.arguments[0]
        return [marker]


def _skip_pages_pam_cannot_run(app: Any, doctree: nodes.document) -> None:
    """doctree-read: on a build against another PAM than Linux-PAM, the
    doctests of a page marked ``examples-need-linux-pam`` do not run."""
    marked = [n for n in doctree.findall(nodes.comment) if n.get("pam_examples_need")]
    if not marked:
        return
    from draxoft.auth import pam

    if pam.implementation == "Linux-PAM":
        return
    for node in _doctest_nodes(doctree):
        node["skipif"] = "True"


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("pam-constants", PamConstants)
    app.add_directive("markdown-file", MarkdownFile)
    app.add_directive("pam-if", PamIf)
    app.add_directive("examples-need-linux-pam", ExamplesNeedLinuxPam)
    app.connect("doctree-read", _skip_pages_pam_cannot_run)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
