#!/usr/bin/env python3
"""The manual pages as a newcomer reads them (issue 12).

For every page in doc/ (*.1, *.5, *.8):

1. `groff -man -ww -z` prints no warning (unknown macros, bad escapes,
   lines that cannot be adjusted, ...).
2. The source uses the alternating font macros (.BR .RB .IR .RI .BI .IB)
   without gluing words: they alternate fonts WITHOUT a space between their
   arguments, so `.BR $USER ). The change` renders "$USER).Thechange".
   A boundary between two arguments is flagged when the first ends with a
   letter, a digit or . , ; : ) and the next starts with a letter or digit.
   Also flagged: `.B word ;` and `.I word )`, where the punctuation comes out
   in the wrong font after a stray space (it wants .BR / .IR).
3. The rendered text (groff -Tutf8, hyphenation off, so no word is split)
   has no run-together words: a ")" or a sentence end glued to the next word
   ("today).Default"), or a run of 19 or more letters, which no word of these
   pages is ("thesevendaysuptotoday").
4. [store] active_bytes is "at least" (as logger/usage.c counts) in
   breaktime.conf(5), breaktime(1) and doc/schema.md, never "more than".
5. Where man-db is installed: `man --warnings=w -l` on 80 columns prints no
   warning and shows no run-together words either.

Usage: test_manpages.py [DOC_DIR]   (default: doc/ next to tests/)
Exit status 0 when every page is clean, 1 otherwise, 77 (skip) without groff.
"""

import os
import re
import shutil
import subprocess
import sys

ALTERNATING = {".BR", ".RB", ".IR", ".RI", ".BI", ".IB"}


def roff_args(line):
	"""Split a request line's arguments the way troff does: white space
	separates, double quotes group ("" inside quotes is one quote), and a
	backslash escape (\\ , \\(xx, ...) never splits."""
	args, cur, i, quoted, started = [], [], 0, False, False
	while i < len(line):
		c = line[i]
		if c == "\\" and i + 1 < len(line):
			cur.append(line[i:i + 2])
			started = True
			i += 2
			continue
		if quoted:
			if c == '"':
				if i + 1 < len(line) and line[i + 1] == '"':
					cur.append('"')
					i += 2
					continue
				quoted = False
			else:
				cur.append(c)
			i += 1
			continue
		if c in " \t":
			if started:
				args.append("".join(cur))
				cur, started = [], False
			i += 1
			continue
		if c == '"' and not started:
			quoted = started = True
			i += 1
			continue
		cur.append(c)
		started = True
		i += 1
	if started:
		args.append("".join(cur))
	return args


ESCAPE = re.compile(r"\\(f(\[[^]]*\]|\(..|.)|&|\(..|\*(\(..|.)|\[[^]]*\]|.)")


def visible(arg):
	"""The characters an argument prints, escapes reduced to one stand-in:
	font changes and \\& print nothing, \\- a hyphen, \\(xx a symbol (#),
	\\<space> a space."""
	def sub(m):
		e = m.group(1)
		if e[0] == "f" or e == "&":
			return ""
		if e == "-":
			return "-"
		if e in (" ", "~", "0"):
			return " "
		return "#"
	return ESCAPE.sub(sub, arg)


def glued(a, b):
	"""Whether two alternating arguments print as run-together words:
	word+word ("Thechange"), ")" "," ";" + word ("$USER).The",
	"a,b"), or "." ":" + a capitalised word ("today.Default"); but not
	"file:" + "PATH" or "mon" "..." "sun", which mean what they print."""
	if not b[0].isalnum():
		return False
	if a[-1].isalnum() or a[-1] in "),;":
		return True
	if a[-1] in ".:":
		return a[-2:-1] == ")" or re.match(r"[A-Z][a-z]", b) is not None
	return False


def source_problems(path):
	problems = []
	with open(path, encoding="utf-8") as f:
		lines = f.read().split("\n")
	for n, line in enumerate(lines, 1):
		if not line.startswith("."):
			continue
		parts = line.split(None, 1)
		macro = parts[0]
		rest = parts[1] if len(parts) > 1 else ""
		if macro in ALTERNATING:
			args = [visible(a) for a in roff_args(rest)]
			for a, b in zip(args, args[1:]):
				if not a or not b:
					continue
				if glued(a, b):
					problems.append("%s:%d: %s glues %r to %r (no space "
						"between alternating arguments)"
						% (path, n, macro, a, b))
		elif macro in (".B", ".I"):
			args = roff_args(rest)
			if len(args) > 1 and re.fullmatch(r"[.,;:)]+", args[-1]):
				problems.append("%s:%d: %s ends in a separate %r: it prints "
					"in the same font after a space (use %sR)"
					% (path, n, macro, args[-1], macro))
	return problems


def groff_warnings(path):
	r = subprocess.run(["groff", "-man", "-ww", "-z", path],
		capture_output=True, text=True)
	out = (r.stdout + r.stderr).strip()
	if r.returncode != 0 or out:
		return ["%s: groff -man -ww -z: %s" % (path, out or
			"exit status %d" % r.returncode)]
	return []


def man_problems(path):
	"""The page as `man -l` shows it on an 80-column terminal (man-db: its
	preprocessors, its groff options), with every groff warning on: no
	warning, and no run-together words on any line."""
	env = dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="",
		LC_ALL="C.UTF-8")
	r = subprocess.run(["man", "--warnings=w", "-l", path],
		capture_output=True, text=True, env=env)
	problems = []
	if r.returncode != 0 or r.stderr.strip():
		problems.append("%s: man -l: exit %d: %s" % (path, r.returncode,
			r.stderr.strip()))
	text = re.sub(".\b", "", r.stdout)
	for n, line in enumerate(text.split("\n"), 1):
		for pattern, what in GLUED:
			for m in pattern.finditer(line):
				problems.append("%s: man -l line %d: %s: %r in %r"
					% (path, n, what, m.group(0), line.strip()))
	return problems


GLUED = [
	# "today).Default", "$USER).The": a parenthesis or sentence end glued
	# to the next word
	(re.compile(r"[\w$]\)[.,;:]?[A-Za-z]"), "a word glued after ')'"),
	(re.compile(r"[a-z]{2}[.;:][A-Z][a-z]"), "a sentence glued to the next"),
	# "thesevendaysuptotoday": no word of these pages is this long
	(re.compile(r"[A-Za-z]{19,}"), "words run together"),
]


def rendered(path):
	r = subprocess.run(["groff", "-man", "-Tutf8", "-P-cbou", "-rLL=100n",
		"-rHY=0", path], capture_output=True, text=True)
	return r.stdout


def render_problems(path):
	problems = []
	for n, line in enumerate(rendered(path).split("\n"), 1):
		for pattern, what in GLUED:
			for m in pattern.finditer(line):
				problems.append("%s: rendered line %d: %s: %r in %r"
					% (path, n, what, m.group(0), line.strip()))
	return problems


def threshold_problems(doc):
	"""[store] active_bytes is one rule in three places: logger/usage.c
	counts a minute active when its bytes are >= the threshold (exactly the
	threshold counts: tests/unit/test_usage.c), so every paragraph that
	defines it says "at least", none "more than"."""
	problems = []
	for name in ("breaktime.conf.5", "breaktime.1", "schema.md"):
		path = os.path.join(doc, name)
		if not os.path.exists(path):
			problems.append("%s: missing" % path)
			continue
		with open(path, encoding="utf-8") as f:
			text = f.read()
		if name.endswith(".md"):
			paras = re.split(r"\n\s*\n", text)
		else:
			paras = re.split(r"\n\.(?:TP|PP|P|LP|IP|SH|SS)\b[^\n]*", text)
		defs = [re.sub(r"\s+", " ", p) for p in paras
			if "active_bytes" in p and re.search(r"\bminute", p)
			and re.search(r"\bbytes\b", p)]
		if not defs:
			problems.append("%s: no paragraph defines active_bytes" % path)
		for p in defs:
			if re.search(r"more than|over this|exceed", p):
				problems.append("%s: active_bytes described as more than the "
					"threshold (the code counts at least): %.120s" % (path, p))
		if defs and not any("at least" in p for p in defs):
			problems.append("%s: active_bytes not described as \"at least\""
				% path)
	return problems


def self_test():
	"""The checks catch the mistakes this test was written for."""
	assert roff_args('$USER ). The change') == ["$USER", ").", "The",
		"change"]
	assert roff_args('\\-\\-format " text" | csv') == ["\\-\\-format",
		" text", "|", "csv"]
	assert roff_args('"a ""b"" c" d') == ['a "b" c', "d"]
	assert visible("\\-\\-from") == "--from"
	assert visible("\\fR, \\fP") == ", "
	bad = [
		".BR $USER ). The change is a row",
		'.BR "\\-\\-from today\\-7 \\-\\-to yesterday" ). Default: the',
		".B [store] database ;",
		".IR foo bar",
		".BR today . Default",
	]
	good = [
		".BR breaktimed (8),",
		".IR host <TAB> platform <TAB> category ,",
		'.RB ( on ", " off ", " auto',
		'.BI \\-\\-from " date" "\\fR, \\fP" \\-\\-to " date"',
		".BI p- hhhhhhhhhh :",
		".BR ; ,",
		".B \\-\\-json",
		".IR file : line :",
		".BR mon ... sun",
		".BI file: PATH",
	]
	import tempfile
	for lines, want in ((bad, True), (good, False)):
		for line in lines:
			with tempfile.NamedTemporaryFile("w", suffix=".1",
					delete=False) as t:
				t.write(line + "\n")
			try:
				got = bool(source_problems(t.name))
			finally:
				os.unlink(t.name)
			assert got == want, "self-test: %r flagged=%s" % (line, got)
	for text, want in (("$USER).Thechangeisarowinthe", True),
			("yesterday).Default:thesevendaysuptotoday", True),
			("(see breaktime.conf(5)), in the foreground", False),
			("host<TAB>platform<TAB>category, or", False),
			("as file:line: what.", False)):
		got = any(p.search(text) for p, _ in GLUED)
		assert got == want, "self-test: %r flagged=%s" % (text, got)


def main():
	here = os.path.dirname(os.path.abspath(__file__))
	doc = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..",
		"..", "doc")
	if not shutil.which("groff"):
		print("SKIP: groff not installed (package groff-base)")
		return 77
	self_test()
	pages = sorted(os.path.join(doc, f) for f in os.listdir(doc)
		if re.search(r"\.[158]$", f))
	if not pages:
		print("no manual pages in %s" % doc)
		return 1
	problems = []
	for page in pages:
		problems += groff_warnings(page)
		problems += source_problems(page)
		problems += render_problems(page)
		if shutil.which("man"):
			problems += man_problems(page)
	problems += threshold_problems(doc)
	for p in problems:
		print(p)
	print("%d pages, %d problems" % (len(pages), len(problems)))
	return 1 if problems else 0


if __name__ == "__main__":
	sys.exit(main())
