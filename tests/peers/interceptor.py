"""An exec interceptor for the tests: reads the call as JSON on stdin and answers on stdout.

By the `text` argument of a before-call: `forbidden` is denied, `rewrite-me` rewritten, `short-circuit`
answered here, `garbage` answered with something that is not JSON, `fail` exits non-zero, `slow`
never answers in time; anything else is allowed (an empty answer). Every request is appended to the
file named by the first argument, so a test can read what the interceptor saw.
"""

from __future__ import annotations

import json
import sys
import time

request = json.load(sys.stdin)
if len(sys.argv) > 1:
    with open(sys.argv[1], "a", encoding="utf-8") as seen:
        seen.write(json.dumps(request) + "\n")
text = (request.get("params", {}).get("arguments") or {}).get("text")
if request["when"] == "before":
    if text == "forbidden":
        print(json.dumps({"action": "deny", "message": "forbidden words are not allowed"}))
    elif text == "rewrite-me":
        print(json.dumps({"action": "rewrite", "arguments": {"text": "rewritten by exec"}}))
    elif text == "short-circuit":
        text = "answered by the interceptor"  # echo declares an output schema: structured content too
        print(json.dumps({"content": [{"type": "text", "text": text}], "structuredContent": {"result": text}}))
    elif text == "garbage":
        print("this is not JSON")
    elif text == "fail":
        sys.stderr.write("interceptor: failing on purpose\n")
        sys.exit(3)
    elif text == "slow":
        time.sleep(30)
