"""The privacy notice's text file (PRIVACY_NOTICE_FILE) as the page shows it."""


def sections(text):
    """[("h2" | "p", text)]: paragraphs apart by a blank line, a paragraph starting "# " a heading;
    the lines of a paragraph joined, as the text was wrapped for the file and not for the screen."""
    blocks = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        words = " ".join(line.strip() for line in block.splitlines() if line.strip())
        if words.startswith("# "):
            blocks.append(("h2", words[2:].strip()))
        elif words:
            blocks.append(("p", words))
    return blocks
