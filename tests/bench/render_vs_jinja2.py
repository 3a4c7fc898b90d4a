"""The Python side of the render benchmark: Jinja2 and email.message render the same
templates for the same recipients. Prints messages per second of CPU time.

Usage: render_vs_jinja2.py TEMPLATES_DIR DATA.json (written by tests/bench/render.rs).
"""
import copy
import json
import sys
import time
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr
from datetime import datetime, timezone
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape


def main():
    templates, data_path = sys.argv[1], sys.argv[2]
    with open(data_path, encoding="utf-8") as f:
        data = json.load(f)
    env = Environment(
        loader=FileSystemLoader(templates),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    html_template = env.get_template("email.html")
    text_template = env.get_template("email.txt")
    s, question, base = data["s"], data["q"], data["base_url"]
    from_name, from_addr = parseaddr(data["from"])
    date = format_datetime(datetime.fromtimestamp(1_800_000_000, timezone.utc))
    started = time.process_time()
    total = 0
    for i, (address, name, token) in enumerate(data["recipients"]):
        q = copy.deepcopy(question)
        for choice in q["choices"]:
            choice["href"] = f"{base}/r/{token}?q={quote(q['id'])}&v={quote(choice['value'])}"
        context = {
            "s": s,
            "q": q,
            "name": name,
            "survey_url": f"{base}/s/{token}",
            "unsubscribe_url": f"{base}/u/{token}",
        }
        msg = EmailMessage()
        msg["From"] = Address(from_name, addr_spec=from_addr)
        msg["To"] = Address(name or "", addr_spec=address)
        msg["Reply-To"] = data["reply_to"]
        msg["Subject"] = data["subject"].replace("{{ name }}", name or "")
        msg["Date"] = date
        msg["Message-ID"] = f"<d{i}@acme.example>"
        msg["Auto-Submitted"] = "auto-generated"
        msg["List-Unsubscribe"] = (
            f"<mailto:unsubscribe@acme.example?subject=unsubscribe%20{token}>, <{base}/u/{token}>"
        )
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        msg.set_content(text_template.render(context))
        msg.add_alternative(html_template.render(context), subtype="html")
        total += len(msg.as_bytes(policy=SMTP))
    elapsed = time.process_time() - started
    print(len(data["recipients"]) / elapsed)


if __name__ == "__main__":
    main()
