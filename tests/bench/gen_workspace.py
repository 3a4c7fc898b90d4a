#!/usr/bin/env python3
"""Generates the `canvass check` benchmark workspace: N surveys (default 1,000) in five
locales, each with distribution rules, and one audience CSV.

Usage: gen_workspace.py DIR [N]
"""
import os
import sys

LOCALES = ["en", "sl", "lt", "cs", "ms"]


def text(words, indent):
    pad = " " * indent
    return "".join(f"\n{pad}{loc}: {words} ({loc})" for loc in LOCALES)


def survey(sid):
    return f"""# yaml-language-server: $schema=../../schemas/survey.schema.json
id: {sid}
version: 1
locales: [{", ".join(LOCALES)}]
title:{text("How did we do", 2)}
intro:{text("It takes a minute", 2)}
questions:
  - id: recommend
    type: nps
    required: true
    text:{text("How likely are you to recommend us", 6)}
    scale:
      labels:
        0:{text("Not at all likely", 10)}
        10:{text("Extremely likely", 10)}
  - id: satisfaction
    type: rating
    text:{text("How satisfied are you", 6)}
    scale: {{ min: 1, max: 5 }}
  - id: channel
    type: choice
    text:{text("How did you contact us", 6)}
    options:
      - id: phone
        text:{text("Phone", 10)}
      - id: email
        text:{text("E-mail", 10)}
  - id: resolved
    type: yes_no
    text:{text("Was your issue resolved", 6)}
  - id: reason
    type: text
    when: recommend <= 6 and resolved == no
    text:{text("What should we improve", 6)}
metrics:
  - {{ id: nps, kind: nps, question: recommend }}
  - {{ id: csat, kind: top_box, question: satisfaction, values: [4, 5] }}
  - {{ id: fcr, kind: top_box, question: resolved, values: [yes] }}
thanks:{text("Thank you", 2)}
"""


def distribution(sid):
    subject = "".join(f"\n        {loc}: \"{{{{ name }}}}, how did we do? ({loc})\"" for loc in LOCALES)
    return f"""# yaml-language-server: $schema=../../schemas/distribution.schema.json
survey: {sid}
rules:
  - id: after-ticket
    channel: email
    audience:
      file: ../../audiences/customers.csv
      key: email
      locale: locale
      name: first_name
      timezone: tz
      segments: [plan]
    trigger: {{ field: closed_at, after: 2h, within: 3d }}
    cap: {{ once_per: 30d }}
    window: {{ days: mon-fri, hours: "08:00-18:00", timezone: Europe/Ljubljana }}
    reminder: {{ after: 2d, max: 1 }}
    expires: 7d
    email:
      from: "Support <support@example.com>"
      subject:{subject}
  - id: share
    channel: link
"""


def main():
    root = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    os.makedirs(os.path.join(root, "audiences"), exist_ok=True)
    with open(os.path.join(root, "canvass.yaml"), "w") as f:
        f.write("name: Benchmark\nunsubscribe:\n  mailto: unsubscribe@example.com\n")
    with open(os.path.join(root, "audiences", "customers.csv"), "w") as f:
        f.write("email,first_name,locale,tz,plan,closed_at\n")
        for i in range(1000):
            loc = LOCALES[i % len(LOCALES)]
            f.write(f"user{i}@example.com,User{i},{loc},Europe/Ljubljana,free,2026-01-01T00:00:00Z\n")
    for i in range(count):
        sid = f"survey-{i:04}"
        folder = os.path.join(root, "surveys", sid)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "survey.yaml"), "w") as f:
            f.write(survey(sid))
        with open(os.path.join(folder, "distribution.yaml"), "w") as f:
            f.write(distribution(sid))


if __name__ == "__main__":
    main()
