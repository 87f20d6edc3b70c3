"""lynx, w3m and elinks driven for real: each runs in a tmux pseudo-terminal of its own, keys are
typed with send-keys and the screen is read with capture-pane, as a person at a terminal would.

Each browser reaches a link or a field its own way: lynx and elinks number them ("[12]Reenviar
CDA": type 12), w3m searches the words on the screen and moves to the control after them.
A wait polls the screen until the words appear (or fails showing the screen): it asserts what a
person would see, never how long it took.
"""
import os
import re
import shutil
import subprocess
import time
import uuid

import pytest

from tests.conftest import IN_CI

WAIT = 30  # seconds before a missing text is a failure (a slow, shared machine; never a measure)
# A person's pause between keys: a browser reading keys faster than it draws its dialogs (elinks'
# "go to link") takes the next key for the dialog that is not open yet.
PACE = 0.25
TMUX = shutil.which("tmux") or "/usr/bin/tmux"


def require(program):
    """The program's path; missing in CI is a failure, locally a skip."""
    path = shutil.which(program)
    if path is None:
        message = f"{program} no está instalado (apt-get install {program})"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


class Terminal:
    """A detached tmux session on its own socket, 160 columns by 200 lines (a page fits)."""

    def __init__(self, command, home):
        require("tmux")
        self.socket = f"portal-{uuid.uuid4().hex[:10]}"
        self.home = home
        # Not COLUMNS and LINES (pytest-xdist's workers set 80×24): lynx would size itself by them.
        env = {name: value for name, value in os.environ.items() if name not in ("COLUMNS", "LINES")}
        env.update(HOME=str(home), TERM="xterm", LANG="C.UTF-8", LC_ALL="C.UTF-8")
        subprocess.run([TMUX, "-L", self.socket, "-f", "/dev/null", "new-session", "-d", "-s", "b",
                        "-x", "160", "-y", "200", command], env=env, check=True)

    def keys(self, *keys):
        for key in keys:
            subprocess.run([TMUX, "-L", self.socket, "send-keys", "-t", "b", key], check=True)
            time.sleep(PACE)

    def text(self, text):
        subprocess.run([TMUX, "-L", self.socket, "send-keys", "-t", "b", "-l", text], check=True)
        time.sleep(PACE)

    def screen(self):
        result = subprocess.run([TMUX, "-L", self.socket, "capture-pane", "-p", "-t", "b"],
                                capture_output=True, check=True)
        return result.stdout.decode("utf-8", "replace")

    def wait_for(self, *texts, absent=()):
        """The screen once every text is on it (and none of `absent`)."""
        deadline = time.monotonic() + WAIT
        while True:
            screen = self.screen()
            if all(t in screen for t in texts) and not any(t in screen for t in absent):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"No aparece {texts!r} (o sigue {absent!r}) en la pantalla:\n{screen}")
            time.sleep(0.2)

    def close(self):
        subprocess.run([TMUX, "-L", self.socket, "kill-server"], capture_output=True)


class Browser:
    """What a flow asks of a text browser; each subclass says how its keys do it."""

    name = ""

    def __init__(self, home, url):
        self.home = home
        self.terminal = Terminal(self.command(url), home)

    def wait_for(self, *texts, absent=()):
        return self.terminal.wait_for(*texts, absent=absent)

    def close(self):
        self.terminal.close()


class Numbered(Browser):
    """lynx and elinks: every link and field carries its number on the screen."""

    def _screen_from(self, after):
        screen = self.terminal.screen()
        if after is not None:
            if after not in screen:
                raise AssertionError(f"No aparece «{after}» en la pantalla:\n{screen}")
            screen = screen[screen.index(after):]
        return screen

    def number(self, label, after=None):
        """The number of the control shown as "[N]label": a link, a button, a box before its words."""
        screen = self._screen_from(after)
        found = re.search(r"\[(\d+)\](?:BUTTON\)|\[[ X]\]|\([ *]\))?\s*" + re.escape(label), screen)
        if found is None:
            raise AssertionError(f"No hay control «{label}» en la pantalla:\n{screen}")
        return found.group(1)

    def field_number(self, label, after=None):
        """The number of the first field after its label ("Correo electrónico [3]____")."""
        screen = self._screen_from(after)
        if label not in screen:
            raise AssertionError(f"No aparece «{label}» en la pantalla:\n{screen}")
        return re.search(r"\[(\d+)\]", screen[screen.index(label) + len(label):]).group(1)


class Elinks(Numbered):
    name = "elinks"

    def command(self, url):
        conf = self.home / ".elinks"
        conf.mkdir(parents=True, exist_ok=True)
        # No JavaScript (elinks has none worth the name), numbered links, no "post this form?" box.
        (conf / "elinks.conf").write_text(
            "set document.browse.links.numbering = 1\n"
            "set document.browse.forms.confirm_submit = 0\n"
            "set ecmascript.enable = 0\n"
            "set ui.success_msgbox = 0\n"
            "set connection.retry_count = 1\n", encoding="utf-8")
        return f"elinks -no-connect 1 '{url}'"

    def _goto(self, number):
        self.terminal.text(number)
        self.terminal.keys("Enter")

    def follow(self, label, after=None):
        self._goto(self.number(label, after))
        self.terminal.keys("Enter")

    press = follow
    toggle = follow

    def choose(self, label, option, after=None):
        # The list opens as a menu box ("| 25  |" a line): from its top, down to the option.
        self._goto(self.field_number(label, after))
        self.terminal.keys("Enter")
        options = _listed(self.terminal, r"^.*?\|\s(\S[^|]*?)\s*\|", option)
        self.terminal.keys("Home", *["Down"] * options.index(option), "Enter")

    def fill(self, label, value, after=None, area=False):
        self._goto(self.field_number(label, after))
        self.terminal.keys("Enter", "C-u")
        self.terminal.text(value)
        self.terminal.keys("Escape")


class Lynx(Numbered):
    name = "lynx"

    def command(self, url):
        cfg = self.home / "lynx.cfg"
        cfg.write_text(
            "INCLUDE:/etc/lynx/lynx.cfg\n"
            "DEFAULT_KEYPAD_MODE:LINKS_AND_FIELDS_ARE_NUMBERED\n"
            "ACCEPT_ALL_COOKIES:TRUE\n"
            "CHARACTER_SET:utf-8\n"
            # Its notices ("Location URL is not absolute") are shown without pausing the session.
            "INFOSECS:0\nMESSAGESECS:0\nALERTSECS:0\n", encoding="utf-8")
        return f"lynx -cfg={cfg} -nopause '{url}'"

    def _goto(self, number):
        self._leave_text_field()
        self.terminal.text(number)
        self.terminal.keys("Enter")

    def _leave_text_field(self):
        # In a text field digits are typed into it: first move to a control that is not one.
        for _ in range(10):
            if "Enter text into the field" not in self.terminal.screen():
                return
            self.terminal.keys("Down")
            time.sleep(0.1)

    def follow(self, label, after=None):
        self._goto(self.number(label, after))  # a numbered link is followed at once

    def press(self, label, after=None):
        self._goto(self.number(label, after))  # a button is selected, then pressed
        self.terminal.wait_for("submit button")
        self.terminal.keys("Enter")

    def toggle(self, label, after=None):
        self._goto(self.number(label, after))
        self.terminal.keys("Enter")

    def choose(self, label, option, after=None):
        # The list pops up numbered ("2: (2)__25"): type the option's number.
        self._goto(self.field_number(label, after))
        self.terminal.keys("Enter")
        options = _listed(self.terminal, r"(\d+): \(\d+\)__(\S+)", option, numbered=True)
        self.terminal.text(options[option])
        self.terminal.keys("Enter")

    def fill(self, label, value, after=None, area=False):
        self._goto(self.field_number(label, after))
        self.terminal.wait_for("Enter text into the field")
        self.terminal.keys("C-u")
        self.terminal.text(value)


class W3m(Browser):
    """w3m: search the words on the screen ("/"), then the control they name or the one after."""

    name = "w3m"

    def command(self, url):
        editor = self.home / "editor.sh"
        editor.write_text(f'#!/bin/sh\nfor last; do :; done\ncp "{self.home}/textarea.txt" "$last"\n', encoding="utf-8")
        editor.chmod(0o755)
        return (f"env EDITOR={editor} w3m -no-mouse -o accept_cookie=1 -o accept_bad_cookie=1 -o wrap_search=1 "
                f"-o confirm_qq=0 -o display_charset=UTF-8 '{url}'")

    def _search(self, words):
        self.terminal.keys("/")
        self.terminal.text(re.escape(words).replace("\\ ", " "))
        self.terminal.keys("Enter")

    def _top(self):
        self.terminal.keys("g")

    def _at(self, label, after):
        self._top()
        if after is not None:
            self._search(after)
        self._search(label)

    def follow(self, label, after=None):
        self._at(label, after)
        self.terminal.keys("Enter")

    press = follow

    def toggle(self, label, after=None):
        # "( ) Distribuidor", "[ ] Acepto…": the box is the control before the words (ESC TAB).
        self._at(label, after)
        self.terminal.keys("Escape", "Tab", "Enter")

    def choose(self, label, option, after=None):
        # The list pops up as a box ("│25 │" a line); Up stops at its top, then down to the option.
        self._at(label, after)
        self.terminal.keys("Tab", "Enter")
        options = _listed(self.terminal, r"│\s*([^│]*?)\s*│", option)
        self.terminal.keys(*["Up"] * len(options), *["Down"] * options.index(option), "Enter")

    def fill(self, label, value, after=None, area=False):
        # A text field asks for its value on the bottom line; a textarea is handed to $EDITOR,
        # here a script that writes the value the test left for it.
        (self.home / "textarea.txt").write_text(value + "\n", encoding="utf-8")
        self._at(label, after)
        self.terminal.keys("Tab", "Enter")
        if not area:
            self.terminal.keys("C-u")
            self.terminal.text(value)
            self.terminal.keys("Enter")


def _listed(terminal, pattern, option, numbered=False):
    """The options of the list a browser popped up, read off the screen once `option` is among them:
    in order, or (numbered) {option: its number}."""
    deadline = time.monotonic() + WAIT
    while True:
        screen = terminal.screen()
        found = [match.groups() for line in screen.splitlines() for match in [re.search(pattern, line)] if match]
        listed = {text: number for number, text in found} if numbered else [text for (text,) in found]
        if option in listed:
            return listed
        if time.monotonic() > deadline:
            raise AssertionError(f"No aparece la opción «{option}» en la lista:\n{screen}")
        time.sleep(0.2)


BROWSERS = {"lynx": Lynx, "w3m": W3m, "elinks": Elinks}
